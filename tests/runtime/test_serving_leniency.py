"""What Paddle Serving 0.9 accepts is accepted here too. The oracle is the real
`paddle_serving_app` 0.9.0 wheel: its `LocalPredictor` (run in a subprocess on the wheel's own
files, on Paddle 3 and legacy-format models) reads the same serving model; our `LocalPredictor`
must read the prototxt the same way, and answer a fetch list naming outputs the model lacks as
it does (those names are skipped). Op fetch lists follow the 0.9 pipeline: a local
`fetch_list` the model lacks fails the default `process` (refused here at start-up), an Op's own
`process` decides, and an Op-level fetch_list is ignored for a local model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from generator.runtime import Op, PipelineClient, WebService
from generator.runtime.inference.predictor import LocalPredictor
from generator.serving_model import read_model_config
from tests.helpers.services import free_port
from tests.helpers.serving_app_wheel import app_wheel_dir
from tests.helpers.tiny_models import save_linear_model, write_serving_server

#: runs the wheel's LocalPredictor; the server package it imports for two helpers is stubbed
ORACLE = '''
import json, sys, types
import numpy as np
def _module(name, path=None, **attrs):
    m = types.ModuleType(name)
    m.__path__ = [path] if path else []
    m.__dict__.update(attrs)
    sys.modules[name] = m
class _Resp:
    err_no, err_msg = 0, ""
class _Code:
    class OK:
        value = 0
class _Verify:
    check_dynamic_shape_info = staticmethod(lambda info: True)
_module("paddle_serving_app", sys.argv[1] + "/paddle_serving_app")
_module("paddle_serving_server")
_module("paddle_serving_server.pipeline")
_module("paddle_serving_server.pipeline.error_catch",
        ErrorCatch=lambda f: (lambda *a, **k: (f(*a, **k), _Resp())), CustomException=Exception,
        CustomExceptionCode=_Code, ParamChecker=lambda f: f, ParamVerify=_Verify)
_module("paddle_serving_server.util", kill_stop_process_by_pid=None)
from paddle_serving_app.local_predict import LocalPredictor
p = LocalPredictor()
p.load_model_config(sys.argv[2])
job = json.loads(sys.argv[3])
out = {"feed_names": p.feed_names_, "fetch_names": p.fetch_names_,
       "feed_shapes": {k: list(v) for k, v in p.feed_shapes_.items()}, "fetch": []}
for fetch in job["fetches"]:
    got = p.predict(feed={"x": np.asarray(job["x"], dtype=np.float32)}, fetch=fetch, batch=True)
    out["fetch"].append({k: np.asarray(v).tolist() for k, v in got.items()})
print(json.dumps(out))
'''

X = np.linspace(-1, 1, 26, dtype=np.float32).reshape(2, 13)


def oracle(model_dir, fetches: list[list[str]]) -> dict:
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python", GLOG_minloglevel="3")
    job = json.dumps({"x": X.tolist(), "fetches": fetches})
    proc = subprocess.run([sys.executable, "-c", ORACLE, str(app_wheel_dir()), str(model_dir), job],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def uci(tmp_path_factory):
    """A legacy-format linear model like uci_housing: var fc_0.tmp_1, fetch alias price."""
    m = save_linear_model(tmp_path_factory.mktemp("uci") / "model", fmt="legacy", seed=2)
    write_serving_server(m, fetch_alias_names=["price"])
    return m.model_dir


def test_fetch_names_the_model_lacks_are_answered_like_the_wheel(uci):
    var = read_model_config(uci).fetch_vars[0].name
    fetches = [[var, "nope"], ["nope"], ["price", "nope"], [var]]
    want = oracle(uci, fetches)["fetch"]
    ours = LocalPredictor(uci)
    for fetch, expected in zip(fetches, want, strict=True):
        got = ours.predict({"x": X}, fetch=fetch)
        assert sorted(got) == sorted(expected), fetch
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-5, err_msg=str(fetch))


def test_prototxt_is_read_like_the_wheel(uci, tmp_path):
    """text_format.Merge, as the wheel reads it: a field given twice takes the last value."""
    model = tmp_path / "model"
    model.mkdir()
    for f in uci.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    conf = model / "serving_server_conf.prototxt"
    text = conf.read_text()
    conf.write_text("# edited by hand\n" + text.replace('alias_name: "x"',
                                                         'alias_name: "old"\n  alias_name: "x"'))
    assert text != conf.read_text()
    want = oracle(model, [])
    got = read_model_config(model)
    assert [v.alias_name for v in got.feed_vars] == want["feed_names"] == ["x"]
    assert [v.alias_name for v in got.fetch_vars] == want["fetch_names"] == ["price"]
    assert {v.alias_name: list(v.shape) for v in got.feed_vars} == want["feed_shapes"]
    assert LocalPredictor(model).predict({"x": X})["price"].shape == (2, 1)


class LinearOp(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        return {"x": np.array([[float(v) for v in d["x"].split(",")]], np.float32)}, False, None, ""


class OwnFetchOp(LinearOp):
    def process(self, feed_batch, typical_logid=0):
        return self.client.predict(feed=feed_batch[0], fetch=self._fetch_names), None, ""


def _serve(op_cls, model_dir, op_conf: dict):
    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            return op_cls(name="uci", input_ops=[read_op])

    svc = Svc(name="uci")
    svc.prepare_pipeline_config(yml_dict={
        "rpc_port": free_port(), "http_port": free_port(),
        "op": {"uci": {**op_conf, "local_service_conf": {
            "model_config": str(model_dir), "client_type": "local_predictor",
            **op_conf.pop("local", {})}}}})
    return svc.start()


def _ask(server) -> dict:
    client = PipelineClient()
    client.connect([f"127.0.0.1:{server.rpc_port}"])
    resp = client.predict({"x": ",".join(str(float(v)) for v in X[0])}, timeout=60)
    assert resp.err_no == 0, resp.err_msg
    return dict(zip(resp.key, resp.value, strict=True))


def test_local_fetch_list_the_model_lacks_stops_the_default_process_at_start_up(uci):
    with pytest.raises(Exception, match=r"fetch_list \['nope'\] not among"):
        _serve(LinearOp, uci, {"local": {"fetch_list": ["price", "nope"]}})


def test_an_ops_own_process_decides_what_it_fetches(uci):
    server = _serve(OwnFetchOp, uci, {"local": {"fetch_list": ["price", "nope"]}})
    try:
        assert set(_ask(server)) == {"price"}  # "nope" skipped, as the wheel's predict does
    finally:
        server.stop(5)


def test_op_level_fetch_list_the_model_lacks_is_ignored_for_a_local_model(uci):
    server = _serve(LinearOp, uci, {"fetch_list": ["nope"]})
    try:
        assert set(_ask(server)) == {"price"}  # every output
    finally:
        server.stop(5)
