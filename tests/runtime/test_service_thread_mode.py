"""A real service in this process (thread-mode Ops), real Paddle inference on tiny models, real
gRPC and HTTP on loopback: DAGs, mini-batches, auto-batching, errors, overload, health, metrics."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import requests

from generator.runtime import Op, PipelineClient, WebService
from generator.runtime.inference.predictor import LocalPredictor
from tests.helpers.metrics import metric_value
from tests.helpers.services import free_port
from tests.helpers.tiny_models import save_linear_model, save_tiny_detector, write_serving_server


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    linear = save_linear_model(root / "linear", fmt="pir", seed=1)
    write_serving_server(linear, fetch_alias_names=["price"])
    det = save_tiny_detector(root / "det", num_classes=3, image_size=32, fmt="pir", seed=2)
    write_serving_server(det, fetch_alias_names=["bbox", "bbox_num"])
    return {"linear": linear.model_dir, "det": det.model_dir}


def _conf(ops: dict, **extra) -> dict:
    return {"rpc_port": free_port(), "http_port": free_port(), "worker_num": 16,
            "dag": {"is_thread_op": True, **extra.pop("dag", {})}, "op": ops, **extra}


def _local(model_dir, **kw) -> dict:
    return {"local_service_conf": {"model_config": str(model_dir), "client_type": "local_predictor",
                                   **kw.pop("local", {})}, **kw}


class _Service(WebService):
    def __init__(self, name, build):
        super().__init__(name=name)
        self._graph = build

    def get_pipeline_response(self, read_op):
        return self._graph(read_op)


@pytest.fixture
def serve():
    servers = []

    def start(name, build, conf):
        svc = _Service(name, build)
        svc.prepare_pipeline_config(yml_dict=conf)
        server = svc.start()
        servers.append(server)
        client = PipelineClient()
        client.connect([f"127.0.0.1:{server.rpc_port}"])
        return server, client, f"http://127.0.0.1:{server.http_port}"

    yield start
    for s in servers:
        s.stop(5)


def _x(seed: int, rows: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 13)).astype(np.float32)


class LinearOp(Op):
    """Request key `x`: comma-separated floats (rows separated by `;`)."""

    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        rows = [[float(v) for v in r.split(",")] for r in d["x"].split(";")]
        return {"x": np.array(rows, dtype=np.float32)}, False, None, ""


def _s(x: np.ndarray) -> str:
    return ";".join(",".join(repr(float(v)) for v in row) for row in x)


def test_two_branch_dag_joins_both_outputs(models, serve):
    class SumOp(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            assert set(input_dicts) == {"a", "b"}
            total = input_dicts["a"]["price"] + input_dicts["b"]["price"]
            return {"total": total}, True, None, ""

        def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
            return {"total": json.dumps(fetch_dict["total"].ravel().tolist())}, None, ""

    def build(read):
        a = LinearOp(name="a", input_ops=[read])
        b = LinearOp(name="b", input_ops=[read])
        return SumOp(name="sum", input_ops=[a, b])

    conf = _conf({"a": _local(models["linear"]), "b": _local(models["linear"])})
    _, client, _ = serve("sum", build, conf)
    x = _x(0, rows=3)
    resp = client.predict(feed_dict={"x": _s(x)})
    assert resp.err_no == 0, resp.err_msg
    direct = LocalPredictor(str(models["linear"])).predict({"x": x})["price"].ravel()
    np.testing.assert_allclose(json.loads(resp.value[0]), 2 * direct, rtol=1e-5)


def test_mini_batch_list_runs_process_per_element(models, serve):
    class ListOp(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            (_, d), = input_dicts.items()
            parts = d["x"].split("|")
            feeds = [{"x": np.array([[float(v) for v in p.split(",")]], dtype=np.float32)}
                     for p in parts]
            return feeds, False, None, ""

        def postprocess(self, input_dicts, fetch_data, data_id, log_id):
            assert isinstance(fetch_data, list)
            return {"prices": json.dumps([float(f["price"][0, 0]) for f in fetch_data])}, None, ""

    conf = _conf({"lst": _local(models["linear"])})
    _, client, _ = serve("lst", lambda r: ListOp(name="lst", input_ops=[r]), conf)
    x = _x(1, rows=4)
    resp = client.predict(feed_dict={"x": "|".join(_s(r[None]) for r in x)})
    assert resp.err_no == 0, resp.err_msg
    direct = LocalPredictor(str(models["linear"])).predict({"x": x})["price"].ravel()
    np.testing.assert_allclose(json.loads(resp.value[0]), direct, rtol=1e-5)


class DetOp(Op):
    """Request key `seed`: the image is generated from it, so each request differs."""

    batch_sizes: list[int] = []

    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        return _det_feed(int(d["seed"])), False, None, ""

    def process(self, feed_batch, typical_logid=0):
        DetOp.batch_sizes.append(len(feed_batch[0]["image"]))
        return super().process(feed_batch, typical_logid)

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        return {"bbox": json.dumps(fetch_dict["bbox"].tolist()),
                "bbox_num": json.dumps(fetch_dict["bbox_num"].tolist())}, None, ""


def _det_feed(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"image": rng.standard_normal((1, 3, 32, 32)).astype(np.float32) * 3,
            "im_shape": np.array([[32, 32]], np.float32),
            "scale_factor": np.array([[1.0 + seed % 3, 2.0]], np.float32)}


def test_auto_batching_splits_boxes_per_request_under_load(models, serve):
    DetOp.batch_sizes = []
    conf = _conf({"det": _local(models["det"], batch_size=8, auto_batching_timeout=100)})
    _, client, _ = serve("det", lambda r: DetOp(name="det", input_ops=[r]), conf)
    direct = LocalPredictor(str(models["det"]))
    seeds = list(range(24))
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        resps = list(pool.map(lambda s: client.predict(feed_dict={"seed": str(s)}), seeds))
    assert max(DetOp.batch_sizes) > 1, "concurrent requests were never batched"
    for seed, resp in zip(seeds, resps, strict=True):
        assert resp.err_no == 0, resp.err_msg
        want = direct.predict(_det_feed(seed))
        got = dict(zip(resp.key, resp.value, strict=True))
        assert json.loads(got["bbox_num"]) == want["bbox_num"].tolist()
        np.testing.assert_allclose(np.array(json.loads(got["bbox"])).reshape(-1, 6),
                                   want["bbox"], rtol=1e-4, atol=1e-4)
    assert sum(json.loads(dict(zip(r.key, r.value, strict=True))["bbox_num"])[0]
               for r in resps) > len(seeds), "test needs requests with several boxes"


class CappedDetOp(DetOp):
    gathered: list[int] = []

    def run_batch(self, items):
        CappedDetOp.gathered.append(len(items))
        return super().run_batch(items)


@pytest.mark.slow
def test_a_model_that_runs_one_row_at_a_time_is_batched_one_by_one(models, serve, tmp_path):
    """paddle2onnx converts multiclass_nms3 for batch 1: a batch_size the model cannot take is
    gathered as configured and run in runs of one, never an error."""
    import shutil

    from generator.export.onnx_export import convert_to_onnx

    det = shutil.copytree(models["det"], tmp_path / "det")
    convert_to_onnx(det)
    DetOp.batch_sizes, CappedDetOp.gathered = [], []
    conf = _conf({"det": _local(det, batch_size=8, auto_batching_timeout=100,
                                local={"backend": "onnxruntime"})})
    _, client, _ = serve("det", lambda r: CappedDetOp(name="det", input_ops=[r]), conf)
    direct = LocalPredictor(str(models["det"]))
    seeds = list(range(16))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        resps = list(pool.map(lambda s: client.predict(feed_dict={"seed": str(s)}), seeds))
    for seed, resp in zip(seeds, resps, strict=True):
        assert resp.err_no == 0, resp.err_msg
        got = dict(zip(resp.key, resp.value, strict=True))
        want = direct.predict(_det_feed(seed))
        np.testing.assert_allclose(np.array(json.loads(got["bbox"])).reshape(-1, 6),
                                   want["bbox"], rtol=1e-4, atol=1e-4)
    assert max(CappedDetOp.gathered) > 1, "concurrent requests were never gathered"
    assert set(DetOp.batch_sizes) == {1}


class ImageOp(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        raw = base64.b64decode(d["image"], validate=True)
        arr = np.frombuffer(raw, dtype=np.float32)
        return {"x": arr.reshape(-1, 13)}, False, None, ""


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(models, serve):
    _, client, url = serve("img", lambda r: ImageOp(name="img", input_ops=[r]),
                           _conf({"img": _local(models["linear"])}))
    good = base64.b64encode(_x(3).tobytes()).decode()
    missing = client.predict(feed_dict={"wrong": good})
    assert missing.err_no == 10000 and "Raise_msg: image" in missing.err_msg
    assert "ImageOp.preprocess" in missing.err_msg
    bad_b64 = client.predict(feed_dict={"image": "***not base64***"})
    assert bad_b64.err_no == 10000 and "base64" in bad_b64.err_msg.lower()
    wrong_shape = client.predict(feed_dict={"image": base64.b64encode(b"\0" * 20).decode()})
    assert wrong_shape.err_no == 10000 and "reshape" in wrong_shape.err_msg
    r = requests.post(f"{url}/other/prediction", json={"key": ["image"], "value": [good]}, timeout=5)
    assert r.status_code == 200 and r.json()["err_no"] == 3002
    r = requests.post(f"{url}/img/prediction", json={"key": ["image", "x"], "value": [good]},
                      timeout=5)
    assert r.json()["err_no"] == 8000 and "2 keys" in r.json()["err_msg"]
    ok = requests.post(f"{url}/img/prediction", json={"key": ["image"], "value": [good]}, timeout=5)
    assert ok.json()["err_no"] == 0
    direct = LocalPredictor(str(models["linear"])).predict({"x": _x(3)})["price"]
    assert ok.json()["key"] == ["price"]
    assert str(float(direct[0, 0]))[:6] in ok.json()["value"][0]


def test_feed_name_mismatch_is_5000_with_the_expected_names(models, serve):
    class WrongFeedOp(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            return {"feed_batch": _x(0)}, False, None, ""

    _, client, _ = serve("wf", lambda r: WrongFeedOp(name="wf", input_ops=[r]),
                         _conf({"wf": _local(models["linear"])}))
    resp = client.predict(feed_dict={"a": "1"})
    assert resp.err_no == 5000
    assert "invalid arg list" in resp.err_msg and "['x']" in resp.err_msg


def test_product_error_type_error_and_timeout(models, serve):
    class Mixed(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            (_, d), = input_dicts.items()
            if d["mode"] == "slow":
                time.sleep(0.6)
            return {"x": _x(0)}, False, None, ""

        def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
            mode = input_dicts["@DAGExecutor"]["mode"]
            if mode == "product":
                return {}, 123, "custom product failure"
            if mode == "nonstr":
                return {"price": 1.5, "tag": "x"}, None, ""
            return {"ok": "yes"}, None, ""

    class SlowProcess(Mixed):
        def process(self, feed_batch, typical_logid=0):
            if self._slow:
                time.sleep(0.5)
            return super().process(feed_batch, typical_logid)

    _, client, _ = serve("m", lambda r: Mixed(name="m", input_ops=[r]),
                         _conf({"m": _local(models["linear"])}))
    assert client.predict(feed_dict={"mode": "product"}).err_no == 123
    assert client.predict(feed_dict={"mode": "product"}).err_msg == "custom product failure"
    nonstr = client.predict(feed_dict={"mode": "nonstr"})
    assert nonstr.err_no == 7000 and "str" in nonstr.err_msg
    assert client.predict(feed_dict={"mode": "plain"}).err_no == 0

    SlowProcess._slow = True
    _, client2, _ = serve("t", lambda r: SlowProcess(name="t", input_ops=[r]),
                          _conf({"t": _local(models["linear"], timeout=100)}))
    timed_out = client2.predict(feed_dict={"mode": "plain"})
    assert timed_out.err_no == 6000 and "timeout" in timed_out.err_msg
    SlowProcess._slow = False
    time.sleep(2.0)  # the timed-out call's 0.5 s sleep has ended (it holds the Op meanwhile)
    assert client2.predict(feed_dict={"mode": "plain"}).err_no == 0


def test_overload_is_answered_with_an_error_not_a_queue(models, serve):
    release = threading.Event()

    class Blocking(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            release.wait(10)
            return {"x": _x(0)}, False, None, ""

    _, client, url = serve("ov", lambda r: Blocking(name="ov", input_ops=[r]),
                           _conf({"ov": _local(models["linear"])}, dag={"channel_size": 2}))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futs = [pool.submit(client.predict, {"k": "v"}) for _ in range(8)]
        time.sleep(1.0)
        release.set()
        codes = sorted(f.result().err_no for f in futs)
    assert 0 in codes and 8001 in codes, codes
    overloaded = next(f.result() for f in futs if f.result().err_no == 8001)
    assert "channel_size" in overloaded.err_msg
    assert client.predict(feed_dict={"k": "v"}).err_no == 0


def test_health_and_metrics(models, serve):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    server, client, url = serve("uci", lambda r: LinearOp(name="uci", input_ops=[r]),
                                _conf({"uci": _local(models["linear"])}))
    assert requests.get(f"{url}/health/live", timeout=5).status_code == 200
    assert requests.get(f"{url}/health/ready", timeout=5).json() == {"status": "ready"}
    with grpc.insecure_channel(f"127.0.0.1:{server.rpc_port}") as ch:
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""))
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    for _ in range(3):
        assert client.predict(feed_dict={"x": _s(_x(0))}).err_no == 0
    client.predict(feed_dict={"nope": "1"})
    text = requests.get(f"{url}/metrics", timeout=5).text
    assert metric_value(text, "pd_query_request_success_total", service="uci") == 3
    assert metric_value(text, "pd_query_request_failure_total", service="uci") == 1
    assert metric_value(text, "pd_inference_count_total", service="uci") == 3
    assert metric_value(text, "pd_query_request_duration_seconds_count", service="uci") == 4
    assert metric_value(text, "pd_query_request_errors_total", service="uci",
                        err_no="10000") == 1
    assert metric_value(text, "pd_requests_total", protocol="grpc", err_no="0") == 3
    assert metric_value(text, "pd_requests_total", protocol="grpc", err_no="10000") == 1
    server.stop(2)
    with pytest.raises(requests.RequestException):
        requests.get(f"{url}/health/ready", timeout=2)


def test_batching_without_timeout_never_waits_for_a_full_batch(models, serve):
    """Paddle Serving blocked until batch_size requests arrived when auto_batching_timeout <= 0;
    here a lone request runs at once with what is queued."""
    conf = _conf({"uci": _local(models["linear"], batch_size=8, auto_batching_timeout=-1)})
    _, client, _ = serve("uci", lambda r: LinearOp(name="uci", input_ops=[r]), conf)
    started = time.monotonic()
    resp = client.predict({"x": _s(_x(5))}, timeout=60)
    assert resp.err_no == 0 and time.monotonic() - started < 30  # not blocked for a batch


def test_a_lone_request_does_not_wait_out_the_batching_timeout(models, serve):
    """auto_batching_timeout waits for company only while other requests are in flight: one
    client alone is answered at once, not after 20 s (a load-less batching delay)."""
    conf = _conf({"uci": _local(models["linear"], batch_size=8, auto_batching_timeout=20000)},
                 request_timeout_s=60, gil_switch_interval_ms=1)
    _, client, _ = serve("uci", lambda r: LinearOp(name="uci", input_ops=[r]), conf)
    assert sys.getswitchinterval() == pytest.approx(0.001)  # set by the server
    for seed in (6, 7):
        started = time.monotonic()
        resp = client.predict({"x": _s(_x(seed))}, timeout=40)
        assert resp.err_no == 0, resp.err_msg
        assert time.monotonic() - started < 15


def test_init_op_failure_and_unused_op_config_are_reported(models, caplog):
    from generator.runtime.errors import DagError

    class Broken(Op):
        def init_op(self):
            raise FileNotFoundError("label file missing.txt")

    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            return Broken(name="broken", input_ops=[read_op])

    svc = Svc(name="b")
    with caplog.at_level("WARNING", logger="generator.runtime"):
        svc.prepare_pipeline_config(yml_dict=_conf({"broken": _local(models["linear"]),
                                                    "brokne": {"concurrency": 2}}))
    assert "op.brokne matches no Op" in caplog.text and "did you mean 'broken'" in caplog.text
    with pytest.raises(DagError, match="Op 'broken': init_op failed: FileNotFoundError"):
        svc.start()
