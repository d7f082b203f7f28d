"""Services written for Paddle Serving 0.9, with its imports, run by `scaffold run` unchanged:

- the imdb-ensemble pattern: `PipelineServer()` used directly, a custom `RequestOp` that
  tokenises with `paddle_serving_app.reader.imdb_reader.IMDBDataset`, a fan-out/fan-in DAG in
  process mode and a custom `ResponseOp` that builds `pipeline_service_pb2.Response()`;
- a text-reader `WebService`: `ChineseBertReader` over a vocab.txt feeding a real model, plus an
  image decoded as the examples do, with `np.fromstring(data, np.uint8)` and `cv2.imdecode`.

Both are real subprocesses on loopback ports, queried over HTTP and with the 0.9.0 wheel's own
`PipelineClient` over gRPC."""

from __future__ import annotations

import base64
import json
import shutil

import cv2
import numpy as np
import pytest
import requests

from tests.helpers.services import free_port, start_service, stop_service
from tests.helpers.tiny_models import linear_reference, save_linear_model, write_serving_server
from tests.runtime.test_scaffold_run import SCAFFOLD

IMDB_SERVER = '''\
import numpy as np
from paddle_serving_app.reader.imdb_reader import IMDBDataset
import logging
from paddle_serving_server.web_service import WebService
from paddle_serving_server.pipeline import Op, RequestOp, ResponseOp
from paddle_serving_server.pipeline import PipelineServer
from paddle_serving_server.pipeline.proto import pipeline_service_pb2
from paddle_serving_server.pipeline.channel import ChannelDataErrcode

_LOGGER = logging.getLogger()


class ImdbRequestOp(RequestOp):
    def init_op(self):
        self.imdb_dataset = IMDBDataset()
        self.imdb_dataset.load_resource('imdb.vocab')

    def unpack_request_package(self, request):
        dictdata = {}
        for idx, key in enumerate(request.key):
            if key != "words":
                continue
            words = request.value[idx]
            word_ids, _ = self.imdb_dataset.get_words_and_label(words)
            word_len = len(word_ids)
            dictdata[key] = np.array(word_ids).reshape(word_len, 1)
            dictdata["{}.lod".format(key)] = np.array([0, word_len])
        log_id = None
        if request.logid is not None:
            log_id = request.logid
        return dictdata, log_id, None, ""


class BowOp(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, data), = input_dicts.items()
        return {"prediction": np.array([[data["words"].mean()]], dtype="float32")}, True, None, ""


class CnnOp(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, data), = input_dicts.items()
        return {"prediction": np.array([[data["words"].max()]], dtype="float32")}, True, None, ""


class CombineOp(Op):
    def preprocess(self, input_data, data_id, log_id):
        combined_prediction = 0
        for op_name, data in input_data.items():
            _LOGGER.info("{}: {}".format(op_name, data["prediction"]))
            combined_prediction += data["prediction"]
        data = {"prediction": combined_prediction / 2}
        return data, False, None, ""


class ImdbResponseOp(ResponseOp):
    def pack_response_package(self, channeldata):
        resp = pipeline_service_pb2.Response()
        resp.err_no = channeldata.error_code
        if resp.err_no == ChannelDataErrcode.OK.value:
            feed = channeldata.parse()
            for name, var in feed.items():
                resp.value.append(var.__repr__())
                resp.key.append(name)
        else:
            resp.err_msg = channeldata.error_info
        return resp


read_op = ImdbRequestOp()
bow_op = BowOp("bow", input_ops=[read_op])
cnn_op = CnnOp("cnn", input_ops=[read_op])
combine_op = CombineOp("combine", input_ops=[bow_op, cnn_op])
response_op = ImdbResponseOp(input_ops=[combine_op])

server = PipelineServer()
server.set_response_op(response_op)
server.prepare_server('config.yml')
server.run_server()
'''

IMDB_CONFIG = """\
rpc_port: {rpc}
http_port: {http}
worker_num: 2
dag:
    is_thread_op: false
op:
    bow:
        concurrency: 1
    cnn:
        concurrency: 1
    combine:
        concurrency: 1
"""


@pytest.fixture(scope="module")
def imdb_service(tmp_path_factory):
    work = tmp_path_factory.mktemp("imdb")
    (work / "test_pipeline_server.py").write_text(IMDB_SERVER)
    (work / "imdb.vocab").write_text("i\nam\nvery\nsad\nhappy\n")
    rpc, http = free_port(), free_port()
    (work / "config.yml").write_text(IMDB_CONFIG.format(rpc=rpc, http=http))
    proc = start_service([*SCAFFOLD, "test_pipeline_server.py"], work, http)
    yield {"rpc": rpc, "http": http, "proc": proc}
    stop_service(proc)


def test_imdb_ensemble_over_http(imdb_service):
    # ids: i=0 am=1 very=2 sad=3 happy=4, unknown=5; bow = mean, cnn = max, combine = average
    url = f"http://127.0.0.1:{imdb_service['http']}/imdb/prediction"
    body = requests.post(url, json={"key": ["words"], "value": ["i am very sad | 0"]},
                         timeout=10).json()
    assert body["err_no"] == 0, body
    assert body["key"] == ["prediction"]
    assert body["value"] == [repr(np.array([[(1.5 + 3.0) / 2]], dtype=np.float32))]
    unknown = requests.post(url, json={"key": ["words"], "value": ["Happy, happy!|1"]},
                            timeout=10).json()
    # happy , happy ! -> 4 5 4 5: mean 4.5, max 5
    assert unknown["value"] == [repr(np.array([[4.75]], dtype=np.float32))]


def test_imdb_ensemble_with_the_wheels_pipeline_client(imdb_service, run_wheel_script):
    code = f"""
client = PipelineClient()
client.connect(['127.0.0.1:{imdb_service["rpc"]}'])
ret = client.predict(feed_dict={{"words": "i am happy|1"}}, fetch=["prediction"])
print(json.dumps([ret.err_no, list(ret.key), list(ret.value)]))
"""
    proc = run_wheel_script("import json\n" + code)
    assert proc.returncode == 0, proc.stderr
    err_no, keys, values = json.loads(proc.stdout.strip().splitlines()[-1])
    # i am happy -> 0 1 4: mean 5/3, max 4
    expected = np.array([[(5 / 3 + 4) / 2]], dtype=np.float32)
    assert (err_no, keys, values) == (0, ["prediction"], [repr(expected)])


def test_imdb_bad_request_is_an_error_reply(imdb_service):
    url = f"http://127.0.0.1:{imdb_service['http']}/imdb/prediction"
    body = requests.post(url, json={"key": ["words"], "value": ["no label here"]},
                         timeout=10).json()
    assert body["err_no"] != 0 and "invalid literal" in body["err_msg"]


TEXT_SERVER = '''\
import base64
import sys

import cv2
import numpy as np
from paddle_serving_app.reader import ChineseBertReader
from paddle_serving_server.web_service import WebService, Op


class TextOp(Op):
    def init_op(self):
        self.reader = ChineseBertReader({"vocab_file": "vocab.txt", "max_seq_len": 13})

    def preprocess(self, input_dicts, data_id, log_id):
        (_, input_dict), = input_dicts.items()
        feed = self.reader.process(input_dict["text"])
        data = base64.b64decode(input_dict["image"].encode('utf8'))
        data = np.fromstring(data, np.uint8)
        im = cv2.imdecode(data, cv2.IMREAD_COLOR)
        self.shape = im.shape
        x = np.array(feed["input_ids"], dtype="float32").reshape(1, 13) * 0.01
        return {"x": x}, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        return {"price": str(fetch_dict["price"].ravel().tolist()),
                "shape": str(list(self.shape))}, None, ""


class TextService(WebService):
    def get_pipeline_response(self, read_op):
        return TextOp(name="text", input_ops=[read_op])


service = TextService(name="text")
service.prepare_pipeline_config(sys.argv[1])
service.run_service()
'''

TEXT_CONFIG = """\
rpc_port: {rpc}
http_port: {http}
dag:
    is_thread_op: {thread}
op:
    text:
        local_service_conf:
            model_config: model
            client_type: local_predictor
            device_type: 0
"""

VOCAB = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "今", "天", "气", "hello", "##s"]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("text_model")
    model = save_linear_model(root / "model", in_dim=13, fmt="pir", seed=3)
    write_serving_server(model, fetch_alias_names=["price"])
    return model


@pytest.mark.parametrize("thread", ["true", "false"])
def test_text_reader_service(tmp_path, text_model, thread):
    shutil.copytree(text_model.model_dir, tmp_path / "model")
    (tmp_path / "web_service.py").write_text(TEXT_SERVER)
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    rpc, http = free_port(), free_port()
    (tmp_path / "config.yml").write_text(TEXT_CONFIG.format(rpc=rpc, http=http, thread=thread))
    ok, png = cv2.imencode(".png", np.zeros((7, 5, 3), np.uint8))
    assert ok
    image = base64.b64encode(png.tobytes()).decode()
    proc = start_service([*SCAFFOLD, "web_service.py", "config.yml"], tmp_path, http)
    try:
        url = f"http://127.0.0.1:{http}/text/prediction"
        body = requests.post(url, json={"key": ["text", "image"],
                                        "value": ["今天 hellos 天气?", image]}, timeout=10).json()
    finally:
        stop_service(proc)
    assert body["err_no"] == 0, body
    reply = dict(zip(body["key"], body["value"], strict=True))
    assert reply["shape"] == "[7, 5, 3]"
    # [CLS] 今 天 hello ##s 天 气 [UNK] (the "?"), then [PAD]s
    ids = [1, 5, 6, 8, 9, 6, 7, 4, 0, 0, 0, 0, 0]
    expected = linear_reference(np.array([ids], dtype=np.float32) * 0.01, text_model)
    np.testing.assert_allclose(json.loads(reply["price"]), expected.ravel(), rtol=1e-5)
