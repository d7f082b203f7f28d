"""config.yml schema and validation (generator.runtime.config)."""

from __future__ import annotations

import logging
import socket
import textwrap
from pathlib import Path

import pytest

from generator.runtime.config import (
    KEY_DOCS,
    ConfigValidationError,
    check_dynamic_shape_info,
    default_op_config,
    dynamic_shape_info,
    load_pipeline_config,
    op_config,
    pick_free_port,
    resolve_devices,
)
from generator.runtime.errors import PipelineConfigError

LOGGER = "generator.runtime.config"

UCI_YAML = """\
worker_num: 1
rpc_port: 9998
http_port: 18082
dag:
  is_thread_op: False
  tracer:
    interval_s: 10
op:
  uci:
    concurrency: 1
    local_service_conf:
      model_config: uci_housing_model
      device_type: 0
      devices: ""
      client_type: local_predictor
      fetch_list: ["price"]
      precision: FP32
      ir_optim: True
      use_mkldnn: True
"""

DEFAULT_LOCAL = {
    "model_config": None,
    "client_type": None,
    "workdir": "",
    "thread_num": 2,
    "device_type": -1,
    "devices": "",
    "mem_optim": True,
    "ir_optim": False,
    "precision": "fp32",
    "use_calib": False,
    "use_mkldnn": False,
    "backend": "paddle",
    "onednn_workarounds": True,
    "startup_probe": True,
    "mkldnn_cache_capacity": 0,
    "mkldnn_op_list": None,
    "mkldnn_bf16_op_list": None,
    "min_subgraph_size": 3,
    "fetch_list": None,
    "min_input_shape": None,
    "max_input_shape": None,
    "opt_input_shape": None,
    "use_static": False,
    "trt_cache_dir": None,
    "trt_workspace_size": 1 << 30,
    "trt_max_batch_size": 32,
    "collect_shape_range_info": "",
    "tuned_dynamic_shape_info": "",
}

DEFAULT_OP = {
    "concurrency": 1,
    "timeout": -1,
    "retry": 1,
    "worker_kind": "dag",
    "batch_size": 1,
    "auto_batching_timeout": -1,
    "server_endpoints": None,
    "fetch_list": None,
    "client_config": None,
    "client_type": None,
    "use_encryption_model": False,
    "encryption_key": None,
    "local_service_conf": DEFAULT_LOCAL,
}


def write(tmp_path: Path, text: str, name: str = "config.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(**yml_dict) -> str:
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_config(yml_dict=yml_dict)
    return str(info.value)


def local_error(**local) -> str:
    return error_of(rpc_port=9998, op={"m": {"local_service_conf": local}})


# ----------------------------------------------------------------------------- defaults


def test_defaults_match_paddle_serving():
    config = load_pipeline_config(yml_dict={"rpc_port": 9998, "op": {"det": None}})
    assert config == {
        "rpc_port": 9998,
        "http_port": None,
        "worker_num": 1,
        "build_dag_each_worker": False,
        "dag": {
            "is_thread_op": True,
            "retry": 1,
            "client_type": "brpc",
            "use_profile": False,
            "channel_size": 0,
            "tracer": {"interval_s": -1},
            "channel_recv_frist_arrive": False,
            "enable_prometheus": False,
            "prometheus_port": None,
        },
        "op": {"det": DEFAULT_OP},
        "grpc_gateway_port": None,
        "max_message_size_mb": 256,
        "shutdown_timeout_s": 30,
        "http_host": "0.0.0.0",
        "rpc_host": "[::]",
        "http_max_connections": 1000,
        "http_header_timeout_s": 15,
        "http_body_timeout_s": 120,
        "request_timeout_s": 30,
        "max_concurrent_rpcs": 0,
        "max_image_pixels": 40_000_000,
        "max_images_per_request": 64,
        "strict_device": False,
        "gil_switch_interval_ms": 0.5,
    }


def test_op_absent_from_file_gets_all_defaults():
    assert op_config("rec", None, "config.yml") == DEFAULT_OP
    assert default_op_config() == DEFAULT_OP


def test_null_sections_mean_defaults():
    config = load_pipeline_config(yml_dict={"rpc_port": 9998, "dag": None, "op": None})
    assert config["dag"]["is_thread_op"] is True
    assert config["dag"]["tracer"] == {"interval_s": -1}
    assert config["op"] == {}


def test_key_docs_cover_every_key():
    config = load_pipeline_config(yml_dict={"rpc_port": 9998, "op": {"x": {}}})

    def paths(node: dict, prefix: str) -> list[str]:
        out = []
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if key == "op":
                out.append(path)
                out += paths(value["x"], "op.*")
            elif isinstance(value, dict) and key in ("dag", "tracer", "local_service_conf"):
                out.append(path)
                out += paths(value, path)
            else:
                out.append(path)
        return out

    missing = [p for p in paths(config, "") if p not in KEY_DOCS]
    assert missing == []
    assert "op.*.local_service_conf.trt_workspace_size" in KEY_DOCS
    assert all(isinstance(doc, str) and doc for doc in KEY_DOCS.values())


# ----------------------------------------------------------------------------- official example


def test_official_uci_config_loads(tmp_path):
    config = load_pipeline_config(write(tmp_path, UCI_YAML))
    assert config["worker_num"] == 1
    assert (config["rpc_port"], config["http_port"]) == (9998, 18082)
    assert config["dag"]["is_thread_op"] is False
    assert config["dag"]["tracer"]["interval_s"] == 10
    uci = config["op"]["uci"]
    assert uci["concurrency"] == 1
    local = uci["local_service_conf"]
    assert local["model_config"] == "uci_housing_model"
    assert local["device_type"] == 0
    assert local["devices"] == ""
    assert local["client_type"] == "local_predictor"
    assert local["fetch_list"] == ["price"]
    assert local["precision"] == "fp32"  # lower-cased
    assert local["ir_optim"] is True and local["use_mkldnn"] is True
    assert local["thread_num"] == 2 and local["mem_optim"] is True  # defaults filled in
    assert resolve_devices(local) == ("cpu", [-1])


def test_result_is_a_new_dict(tmp_path):
    source = {"rpc_port": 9998, "op": {"a": {"fetch_list": ["y"], "local_service_conf": {}}}}
    config = load_pipeline_config(yml_dict=source)
    config["op"]["a"]["fetch_list"].append("z")
    config["op"]["a"]["local_service_conf"]["thread_num"] = 9
    assert source == {
        "rpc_port": 9998,
        "op": {"a": {"fetch_list": ["y"], "local_service_conf": {}}},
    }
    again = load_pipeline_config(yml_dict=source)
    assert again["op"]["a"]["fetch_list"] == ["y"]
    assert again["op"]["a"]["local_service_conf"]["thread_num"] == 2


def test_op_retry_from_yaml_is_honoured():
    config = load_pipeline_config(yml_dict={"rpc_port": 9998, "op": {"a": {"retry": 3}}})
    assert config["op"]["a"]["retry"] == 3


def test_extensions_are_read():
    config = load_pipeline_config(
        yml_dict={
            "rpc_port": 9998,
            "max_message_size_mb": 64,
            "shutdown_timeout_s": 0.5,
            "http_host": "127.0.0.1",
            "rpc_host": "127.0.0.1",
            "grpc_gateway_port": 18000,
        }
    )
    assert config["max_message_size_mb"] == 64
    assert config["shutdown_timeout_s"] == 0.5
    assert config["http_host"] == config["rpc_host"] == "127.0.0.1"
    assert config["grpc_gateway_port"] == 18000


# ----------------------------------------------------------------------------- arguments, files


def test_both_or_neither_argument_is_an_error(tmp_path):
    path = write(tmp_path, UCI_YAML)
    with pytest.raises(PipelineConfigError, match="not both"):
        load_pipeline_config(path, yml_dict={"rpc_port": 9998})
    with pytest.raises(PipelineConfigError, match="yml_file"):
        load_pipeline_config()


def test_missing_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_config(missing)
    assert str(info.value).startswith(f"{missing}: cannot read")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(PipelineConfigError, match="cannot read"):
        load_pipeline_config(tmp_path)


def test_yaml_syntax_error_shows_line_and_column(tmp_path):
    path = write(tmp_path, "rpc_port: 9998\ndag:\n  is_thread_op: [true\nop: {}\n")
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_config(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: invalid YAML at line 4, column ")


def test_duplicate_key_is_an_error(tmp_path):
    path = write(tmp_path, "rpc_port: 9998\nhttp_port: 18082\nrpc_port: 9999\n")
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_config(path)
    assert "line 3" in str(info.value)
    assert "duplicate key 'rpc_port' (first at line 1)" in str(info.value)


@pytest.mark.parametrize(
    ("text", "found"), [("", "an empty document"), ("- 1\n- 2\n", "[1, 2] (list)")]
)
def test_top_level_must_be_a_mapping(tmp_path, text, found):
    path = write(tmp_path, text)
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_config(path)
    assert str(info.value) == (
        f"{path}: the top level must be a mapping of settings (rpc_port, http_port, dag, op, "
        f"...), found {found}"
    )


def test_errors_from_a_dict_name_yml_dict():
    assert error_of(rpc_port=80).startswith("<yml_dict>: rpc_port: ")


# ----------------------------------------------------------------------------- type errors


def test_error_names_file_key_expected_and_found(tmp_path):
    path = write(
        tmp_path,
        """\
        rpc_port: 9998
        op:
          uci:
            local_service_conf:
              thread_num: two
        """,
    )
    with pytest.raises(ConfigValidationError) as info:
        load_pipeline_config(path)
    assert str(info.value) == (
        f"{path}: op.uci.local_service_conf.thread_num: expected an integer >= 1, found 'two' (str)"
    )
    assert info.value.source == str(path)


def test_quoted_int_gets_a_hint():
    message = error_of(rpc_port=9998, worker_num="8")
    assert message == (
        "<yml_dict>: worker_num: expected an integer >= 1, found '8' (str); remove the quotes: 8"
    )


def test_int_rejects_bool():
    message = error_of(rpc_port=9998, op={"a": {"concurrency": True}})
    assert "op.a.concurrency: expected an integer >= 1, found True (bool)" in message


def test_bool_rejects_strings_with_a_hint():
    message = error_of(rpc_port=9998, dag={"is_thread_op": "false"})
    assert message == (
        "<yml_dict>: dag.is_thread_op: expected true or false, found 'false' (str); "
        "write false without quotes"
    )


def test_devices_as_number_gets_quote_hint():
    message = local_error(devices=0)
    assert "op.m.local_service_conf.devices: expected a string, found 0 (int)" in message
    assert 'quote it: "0"' in message


def test_fetch_list_as_string_gets_list_hint():
    message = local_error(fetch_list="price")
    assert "fetch_list: expected a list of strings or null, found 'price' (str)" in message
    assert "write it as a list: [price]" in message


@pytest.mark.parametrize(
    ("yml", "path", "expected"),
    [
        ({"rpc_port": 80}, "rpc_port", "an integer in 1024..65535"),
        ({"rpc_port": 70000}, "rpc_port", "an integer in 1024..65535"),
        ({"rpc_port": 9998, "worker_num": 0}, "worker_num", "an integer >= 1"),
        ({"rpc_port": 9998, "max_message_size_mb": 2}, "max_message_size_mb", "4..2047"),
        ({"rpc_port": 9998, "shutdown_timeout_s": 0}, "shutdown_timeout_s", "a number > 0"),
        ({"rpc_port": 9998, "dag": {"retry": 0}}, "dag.retry", "an integer >= 1"),
        ({"rpc_port": 9998, "dag": {"channel_size": -1}}, "dag.channel_size", ">= 0"),
        ({"rpc_port": 9998, "dag": {"client_type": "http"}}, "dag.client_type", "'brpc'"),
        ({"rpc_port": 9998, "op": {"a": {"batch_size": 0}}}, "op.a.batch_size", ">= 1"),
        ({"rpc_port": 9998, "op": {"a": {"timeout": 1.5}}}, "op.a.timeout", "an integer"),
        ({"rpc_port": 9998, "op": {"a": []}}, "op.a", "a mapping of Op settings"),
        ({"rpc_port": 9998, "dag": [1]}, "dag", "a mapping"),
    ],
)
def test_range_and_type_errors(yml, path, expected):
    message = error_of(**yml)
    assert message.startswith(f"<yml_dict>: {path}: expected ")
    assert expected in message
    assert "found " in message


def test_unknown_precision_is_an_error_listing_allowed_values():
    message = local_error(precision="FP64")
    assert message == (
        "<yml_dict>: op.m.local_service_conf.precision: expected one of 'fp32', 'fp16', "
        "'int8', 'bf16', found 'FP64' (str)"
    )


def test_precision_is_lower_cased():
    config = load_pipeline_config(
        yml_dict={"rpc_port": 9998, "op": {"m": {"local_service_conf": {"precision": "BF16"}}}}
    )
    assert config["op"]["m"]["local_service_conf"]["precision"] == "bf16"


# ----------------------------------------------------------------------------- unknown keys


def test_typo_is_an_error_with_suggestion():
    message = error_of(rpc_port=9998, op={"uci": {"concurency": 2}})
    assert message == (
        "<yml_dict>: op.uci.concurency: unknown key 'concurency'; did you mean 'concurrency'?"
    )


def test_correctly_spelled_frist_key_gets_the_sic_spelling_suggested():
    message = error_of(rpc_port=9998, dag={"channel_recv_first_arrive": True})
    assert "did you mean 'channel_recv_frist_arrive'?" in message


def test_unrelated_unknown_key_is_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        config = load_pipeline_config(yml_dict={"rpc_port": 9998, "my_custom_flag": 1})
    assert "my_custom_flag" not in config
    assert "<yml_dict>: my_custom_flag: unknown key 'my_custom_flag' ignored" in caplog.text


def test_misplaced_key_warns_where_it_belongs(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        config = load_pipeline_config(
            yml_dict={"rpc_port": 9998, "is_thread_op": False, "op": {"uci": {"thread_num": 4}}}
        )
    assert config["dag"]["is_thread_op"] is True
    assert config["op"]["uci"]["local_service_conf"]["thread_num"] == 2
    assert "is_thread_op: unknown key 'is_thread_op' here (ignored); it belongs under dag" in (
        caplog.text
    )
    assert "op.uci.thread_num" in caplog.text
    assert "belongs under op.uci.local_service_conf" in caplog.text


def test_defaults_are_logged_at_debug_only(caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        load_pipeline_config(yml_dict={"rpc_port": 9998})
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("worker_num not set, using default 1" in r.getMessage() for r in debug)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_use_trt_is_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        config = load_pipeline_config(
            yml_dict={"rpc_port": 9998, "op": {"m": {"local_service_conf": {"use_trt": True}}}}
        )
    assert "use_trt" not in config["op"]["m"]["local_service_conf"]
    assert "set device_type: 2 to run with TensorRT" in caplog.text


# ----------------------------------------------------------------------------- client_type


def test_missing_client_type_defaults_to_local_predictor(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        conf = op_config("m", {"local_service_conf": {"model_config": "serving_server"}}, "c.yml")
    assert conf["local_service_conf"]["client_type"] == "local_predictor"
    assert "c.yml: op.m.local_service_conf.client_type: not set; using 'local_predictor'" in (
        caplog.text
    )


def test_model_less_op_keeps_client_type_none(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        conf = op_config("m", {"local_service_conf": {}}, "c.yml")
    assert conf["local_service_conf"]["client_type"] is None
    assert caplog.text == ""


def test_brpc_runs_as_local_predictor_and_grpc_is_rejected(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        conf = op_config("m", {"local_service_conf": {"client_type": "brpc"}}, "c.yml")
    assert conf["local_service_conf"]["client_type"] == "local_predictor"
    assert "'brpc' (C++ Serving) is run as 'local_predictor'" in caplog.text
    with pytest.raises(PipelineConfigError, match="client_type 'grpc' cannot run a local model"):
        op_config("m", {"local_service_conf": {"client_type": "grpc"}}, "c.yml")


def test_remote_op_needs_client_type_and_valid_endpoints():
    with pytest.raises(PipelineConfigError) as info:
        op_config("bow", {"server_endpoints": ["127.0.0.1:9393", "nohost"]}, "c.yml")
    message = str(info.value)
    assert "c.yml: op.bow.server_endpoints[1]: expected 'host:port', found 'nohost'" in message
    assert "op.bow.client_type: expected 'brpc' or 'pipeline_grpc'" in message
    conf = op_config(
        "bow",
        {
            "server_endpoints": ["127.0.0.1:9393"],
            "client_type": "brpc",
            "client_config": "imdb_bow_client_conf/serving_client_conf.prototxt",
            "fetch_list": ["prediction"],
        },
        "c.yml",
    )
    assert conf["server_endpoints"] == ["127.0.0.1:9393"]
    with pytest.raises(PipelineConfigError, match="op.bow.client_config: required"):
        op_config("bow", {"server_endpoints": ["h:1"], "client_type": "brpc"}, "c.yml")


def test_op_config_errors_name_source_and_op():
    with pytest.raises(PipelineConfigError) as info:
        op_config("det", {"concurrency": "2"}, "my/config.yml")
    assert str(info.value).startswith("my/config.yml: op.det.concurrency: expected an integer")


# ----------------------------------------------------------------------------- devices


@pytest.mark.parametrize(
    ("device_type", "name"),
    [(3, "ARM CPU"), (4, "Kunlun XPU"), (5, "Ascend 310"), (6, "Ascend 910")],
)
def test_unsupported_device_types(device_type, name):
    message = local_error(device_type=device_type)
    assert message == (
        f"<yml_dict>: op.m.local_service_conf.device_type: device_type {device_type} ({name}) "
        "is not supported by this runtime; use -1/0 (CPU), 1 (GPU) or 2 (TensorRT)"
    )
    with pytest.raises(PipelineConfigError, match=f"device_type {device_type} \\({name}\\)"):
        resolve_devices({"device_type": device_type, "devices": ""})


def test_unknown_device_type():
    assert "device_type: expected one of -1, 0, 1, 2, found 7 (int)" in local_error(device_type=7)


@pytest.mark.parametrize(
    ("device_type", "devices", "resolved"),
    [
        (-1, "", ("cpu", [-1])),
        (-1, "0,1", ("gpu", [0, 1])),
        (0, "", ("cpu", [-1])),
        (0, "0,1", ("cpu", [-1])),
        (1, "", ("gpu", [0])),
        (1, "2", ("gpu", [2])),
        (1, " 0, 3 ", ("gpu", [0, 3])),
        (2, "", ("trt", [0])),
        (2, "1,2", ("trt", [1, 2])),
    ],
)
def test_resolve_devices_table(device_type, devices, resolved):
    assert resolve_devices({"device_type": device_type, "devices": devices}) == resolved


@pytest.mark.parametrize("devices", ["a,b", "0,", "-1", "0;1"])
def test_invalid_devices_string(devices):
    message = local_error(device_type=1, devices=devices)
    assert "op.m.local_service_conf.devices: expected comma-separated GPU ids" in message
    assert f"found {devices!r} (str)" in message
    with pytest.raises(PipelineConfigError, match="devices: expected comma-separated GPU ids"):
        resolve_devices({"device_type": 1, "devices": devices})


def test_devices_ignored_on_cpu_warns(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        op_config("m", {"local_service_conf": {"device_type": 0, "devices": "0"}}, "c.yml")
    assert "devices '0' is ignored because device_type is 0 (CPU)" in caplog.text


# ----------------------------------------------------------------------------- dynamic shapes

SHAPES = {
    "device_type": 2,
    "min_input_shape": {"x": [1, 3, 50, 50]},
    "max_input_shape": {"x": [1, 3, 1536, 1536]},
    "opt_input_shape": {"x": [1, 3, 960, 960]},
}


def test_valid_dynamic_shapes():
    conf = op_config("det", {"local_service_conf": SHAPES}, "c.yml")
    local = conf["local_service_conf"]
    assert local["opt_input_shape"] == {"x": [1, 3, 960, 960]}
    assert dynamic_shape_info(local) == {
        "min_input_shape": {"x": [1, 3, 50, 50]},
        "max_input_shape": {"x": [1, 3, 1536, 1536]},
        "opt_input_shape": {"x": [1, 3, 960, 960]},
    }
    assert dynamic_shape_info(default_op_config()["local_service_conf"]) == {}


def test_dynamic_shapes_must_come_together():
    message = local_error(min_input_shape={"x": [1, 3, 50, 50]})
    assert "must be set together" in message
    assert "missing max_input_shape, opt_input_shape" in message


def test_dynamic_shapes_same_inputs():
    message = local_error(**{**SHAPES, "max_input_shape": {"y": [1, 3, 9, 9]}})
    assert "op.m.local_service_conf.max_input_shape: expected the same input names as " in message
    assert "['x'], found ['y']" in message


def test_dynamic_shapes_same_rank():
    message = local_error(**{**SHAPES, "opt_input_shape": {"x": [1, 3, 960]}})
    assert "op.m.local_service_conf.opt_input_shape.x: expected 4 dimensions" in message


def test_dynamic_shapes_min_opt_max_order():
    message = local_error(**{**SHAPES, "opt_input_shape": {"x": [1, 3, 40, 2000]}})
    assert "opt_input_shape.x: expected min <= opt <= max in every dimension" in message
    assert "(dimension 2, 3)" in message


def test_dynamic_shape_dims_must_be_positive_ints():
    message = local_error(**{**SHAPES, "min_input_shape": {"x": [1, 3, -1, "50"]}})
    assert "min_input_shape.x: expected a non-empty list of positive integers" in message


def test_tuned_and_explicit_shapes_conflict():
    message = local_error(**SHAPES, tuned_dynamic_shape_info="shape.txt")
    assert "tuned_dynamic_shape_info: set either" in message


def test_hook_form_dynamic_shape_info():
    info = {k: v for k, v in SHAPES.items() if k != "device_type"}
    assert check_dynamic_shape_info(info) == info
    assert check_dynamic_shape_info({}) == {}
    with pytest.raises(PipelineConfigError, match="must be set together"):
        check_dynamic_shape_info({"min_input_shape": {"x": [1]}}, source="DetOp")
    with pytest.raises(PipelineConfigError, match="did you mean 'opt_input_shape'"):
        check_dynamic_shape_info({**info, "opt_input_shapes": {}})


# ----------------------------------------------------------------------------- ports


def test_at_least_one_port_is_required():
    message = error_of(worker_num=2)
    assert "at least one of rpc_port and http_port is required" in message


def test_ports_must_differ():
    assert "http_port: expected a port different from rpc_port" in error_of(
        rpc_port=9998, http_port=9998
    )
    assert "dag.prometheus_port: expected a port different" in error_of(
        rpc_port=9998, dag={"enable_prometheus": True, "prometheus_port": 9998}
    )


def test_rpc_port_is_picked_when_only_http_port_is_set():
    config = load_pipeline_config(yml_dict={"http_port": 12000})
    assert config["rpc_port"] >= 12000
    assert config["rpc_port"] != 12000  # http_port is excluded
    with socket.socket() as sock:  # the picked port is bindable
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", config["rpc_port"]))


def test_pick_free_port_skips_busy_and_excluded_ports():
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        picked = pick_free_port(start=port)
        assert picked > port
        assert pick_free_port(start=port, exclude={picked}) > picked


def test_prometheus_settings(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        config = load_pipeline_config(
            yml_dict={"http_port": 18082, "rpc_port": 9998, "dag": {"enable_prometheus": True}}
        )
    assert config["dag"]["enable_prometheus"] is True
    assert config["dag"]["prometheus_port"] is None
    assert "served on http_port only" in caplog.text
    config = load_pipeline_config(
        yml_dict={"rpc_port": 9998, "dag": {"enable_prometheus": True, "prometheus_port": 19393}}
    )
    assert config["dag"]["prometheus_port"] == 19393


# ----------------------------------------------------------------------------- all at once


def test_all_errors_are_reported_together(tmp_path):
    path = write(
        tmp_path,
        """\
        rpc_port: "9998"
        worker_num: 0
        dag:
          is_thread_op: "true"
        op:
          det:
            concurency: 2
            local_service_conf:
              device_type: 4
              precision: fp64
          rec:
            batch_size: -1
        """,
    )
    with pytest.raises(ConfigValidationError) as info:
        load_pipeline_config(path)
    err = info.value
    assert [line.split(": ")[1] for line in err.errors] == [
        "rpc_port",
        "worker_num",
        "dag.is_thread_op",
        "op.det.concurency",
        "op.det.local_service_conf.device_type",
        "op.det.local_service_conf.precision",
        "op.rec.batch_size",
    ]
    assert all(line.startswith(f"{path}: ") for line in err.errors)
    assert str(err).startswith(f"{path}: 7 errors in the pipeline config:\n")
    assert all(line in str(err) for line in err.errors)


def test_batch_size_with_build_dag_each_worker_warns(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        config = load_pipeline_config(
            yml_dict={
                "rpc_port": 9998,
                "build_dag_each_worker": True,
                "op": {"a": {"batch_size": 4}},
            }
        )
    assert config["build_dag_each_worker"] is True
    assert "op.a.batch_size: ignored: build_dag_each_worker is true" in caplog.text
