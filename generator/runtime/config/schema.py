"""The `config.yml` schema of the Paddle Serving 0.9 Python Pipeline, plus this runtime's
extensions: every key with its type, default, range and a one-line meaning.

The tables are data only; `generator.runtime.config` walks them to validate a config.
`KEY_DOCS` maps a dotted key path (`op.*` stands for any Op name) to its one-line meaning, so
templates can comment the `config.yml` they write with the same words the validator uses.
"""

from __future__ import annotations

from generator.runtime.config.keys import Key

#: `precision` values Paddle Serving maps to Paddle Inference precisions (lower-cased).
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8", "bf16")

#: `device_type` values this runtime runs: -1 (auto), 0 (CPU), 1 (GPU), 2 (TensorRT).
SUPPORTED_DEVICE_TYPES: tuple[int, ...] = (-1, 0, 1, 2)

#: `device_type` values Paddle Serving knows but this runtime cannot run.
UNSUPPORTED_DEVICE_TYPES: dict[int, str] = {
    3: "ARM CPU",
    4: "Kunlun XPU",
    5: "Ascend 310",
    6: "Ascend 910",
}

#: Default TensorRT workspace of this runtime (Paddle Serving hard-codes 1 << 20).
DEFAULT_TRT_WORKSPACE_SIZE = 1 << 30


_PORT = {"minimum": 1024, "maximum": 65535}

#: `op.*.worker_kind` values (see `generator.runtime.executor.kinds`).
WORKER_KINDS: tuple[str, ...] = ("dag", "auto", "thread", "process")

TOP_KEYS: tuple[Key, ...] = (
    Key(
        "rpc_port",
        "int",
        None,
        "gRPC port (PipelineService). If absent while http_port is "
        "set, a free port from 12000 up is picked.",
        **_PORT,
    ),
    Key(
        "http_port",
        "int",
        None,
        "HTTP/JSON port (POST /{name}/{method}); also serves /metrics. Absent: no HTTP service.",
        **_PORT,
    ),
    Key(
        "worker_num",
        "int",
        1,
        "Threads of the gRPC server (or worker processes when build_dag_each_worker is true).",
        minimum=1,
    ),
    Key(
        "build_dag_each_worker",
        "bool",
        False,
        "true: fork worker_num processes, each with "
        "its own gRPC server and DAG (forces batch_size 1 on every Op).",
    ),
    Key("dag", "section", {}, "DAG settings (dag.*)."),
    Key("op", "section", {}, "Op name -> Op settings (op.*). Ops missing here use defaults."),
    Key("grpc_gateway_port", "int", None, "Legacy key: type-checked, unused."),
    Key(
        "max_message_size_mb",
        "int",
        256,
        "Largest gRPC message (send and receive) and HTTP request body, in MiB.",
        minimum=4,
        maximum=2047,
        extension=True,
    ),
    Key(
        "shutdown_timeout_s",
        "number",
        30,
        "On SIGINT/SIGTERM, seconds to let in-flight requests finish before exiting.",
        minimum=0,
        exclusive_minimum=True,
        extension=True,
    ),
    Key("http_host", "str", "0.0.0.0", "Address the HTTP server binds.", extension=True),
    Key("rpc_host", "str", "[::]", "Address the gRPC server binds.", extension=True),
    Key("http_max_connections", "int", 1000,
        "Open HTTP connections at most; one more closes the longest-idle one, or else may "
        "only ask for health and metrics (16 such), or else is answered 503 and closed.",
        minimum=1, extension=True),
    Key("http_header_timeout_s", "number", 15,
        "Seconds a client has to send a request's line and headers (then 408).",
        minimum=0, exclusive_minimum=True, extension=True),
    Key("http_body_timeout_s", "number", 120,
        "Seconds a client has to send a request's body after its headers (then 408).",
        minimum=0, exclusive_minimum=True, extension=True),
    Key("request_timeout_s", "number", 30,
        "Deadline of every request, whatever the Ops do: past it the request is answered "
        "err_no 6000 (Op `timeout` -1 still means no Op timeout).",
        minimum=0, exclusive_minimum=True, extension=True),
    Key("max_concurrent_rpcs", "int", 0,
        "gRPC calls handled or queued at once at most; one more is answered err_no 8001 at "
        "once. 0: 2 x worker_num + dag.channel_size (at least 64).",
        minimum=0, extension=True),
    Key("max_image_pixels", "int", 40_000_000,
        "Largest image (width x height) a request may decode or be resized to; checked from "
        "the image header before decoding (err_no 5000).", minimum=1, extension=True),
    Key("max_images_per_request", "int", 64,
        "Most images one request may carry (err_no 5000).", minimum=1, extension=True),
    Key("strict_device", "bool", False,
        "false: an Op asking for a GPU (device_type 1/2 or devices) on a CPU-only Paddle runs "
        "on CPU with one start-up warning; true: that is a start-up error.", extension=True),
    Key("gil_switch_interval_ms", "number", 0.5,
        "Python's GIL switch interval in the server (sys.setswitchinterval). Python's 5 ms "
        "made request threads wait behind an Op thread for each hand-over.",
        minimum=0, exclusive_minimum=True, extension=True),
)

DAG_KEYS: tuple[Key, ...] = (
    Key("is_thread_op", "bool", True, "true: Ops run as threads; false: as processes."),
    Key(
        "retry", "int", 1, "DAG-level retries of a request that timed out (err_no 6000).", minimum=1
    ),
    Key(
        "client_type", "str", "brpc", "Legacy key (brpc or grpc); unused.", choices=("brpc", "grpc")
    ),
    Key("use_profile", "bool", False, "Write per-stage PROFILE timestamps to stderr."),
    Key("channel_size", "int", 0, "Max queued requests per channel; 0 means unbounded.", minimum=0),
    Key("tracer", "section", {}, "Performance tracer settings (dag.tracer.*)."),
    Key(
        "channel_recv_frist_arrive",
        "bool",
        False,
        "(sic) Keep only the first-arriving copy of each request in a channel.",
    ),
    Key(
        "enable_prometheus",
        "bool",
        False,
        "Serve Prometheus /metrics on prometheus_port too "
        "(/metrics is always served on http_port).",
    ),
    Key(
        "prometheus_port",
        "int",
        None,
        "Port of the separate /metrics listener used when enable_prometheus is true.",
        **_PORT,
    ),
)

TRACER_KEYS: tuple[Key, ...] = (
    Key(
        "interval_s",
        "int",
        -1,
        "Seconds between tracer reports in "
        "PipelineServingLogs/pipeline.tracer; < 1 disables the tracer.",
    ),
)

OP_KEYS: tuple[Key, ...] = (
    Key("concurrency", "int", 1, "Number of threads or processes running this Op.", minimum=1),
    Key("timeout", "int", -1, "Inference timeout in ms; <= 0 means none."),
    Key(
        "retry",
        "int",
        1,
        "Attempts of a timed-out inference (honoured here; Paddle Serving ignores the YAML value).",
        minimum=1,
    ),
    Key(
        "worker_kind",
        "str",
        "dag",
        "How the Op's `concurrency` copies (model instances) run: dag (dag.is_thread_op "
        "decides), thread, process, or auto (threads when the backend releases the GIL: "
        "openvino, onnxruntime; processes when it holds it: paddle).",
        choices=WORKER_KINDS,
        extension=True,
    ),
    Key("batch_size", "int", 1, "Auto-batching: merge up to this many requests.", minimum=1),
    Key(
        "auto_batching_timeout",
        "int",
        -1,
        "ms to wait to fill a batch, and only while other requests are in flight (a lone "
        "request never waits); <= 0: only requests already queued (Paddle Serving waited for "
        "a full batch).",
    ),
    Key(
        "server_endpoints",
        "str_list",
        None,
        "Remote serving endpoints ('host:port'); non-empty means remote mode.",
    ),
    Key(
        "fetch_list",
        "str_list",
        None,
        "Output names to fetch (local_service_conf.fetch_list overrides it).",
    ),
    Key(
        "client_config",
        "str",
        None,
        "Client prototxt; default <model_config>/serving_server_conf.prototxt.",
    ),
    Key(
        "client_type",
        "str",
        None,
        "Remote client kind, required with server_endpoints.",
        choices=("brpc", "pipeline_grpc", "local_predictor"),
    ),
    Key(
        "use_encryption_model", "bool", False, "Remote brpc only: the server's model is encrypted."
    ),
    Key("encryption_key", "str", None, "Remote brpc only: key of the encrypted model."),
    Key(
        "local_service_conf", "section", {}, "Local inference settings (op.*.local_service_conf.*)."
    ),
)

LOCAL_KEYS: tuple[Key, ...] = (
    Key(
        "model_config",
        "str",
        None,
        "Model directory (with serving_server_conf.prototxt), "
        "relative to the working directory. Absent: the Op has no model.",
    ),
    Key(
        "client_type",
        "str",
        None,
        "local_predictor (in-process Paddle Inference). brpc is run as local_predictor.",
        choices=("local_predictor", "brpc", "grpc"),
    ),
    Key("workdir", "str", "", "brpc only; unused here."),
    Key("thread_num", "int", 2, "CPU math library threads per predictor.", minimum=1),
    Key(
        "device_type",
        "int",
        -1,
        "-1: CPU if devices is empty, else GPU; 0: CPU; 1: GPU; 2: GPU + TensorRT.",
        choices=SUPPORTED_DEVICE_TYPES,
    ),
    Key(
        "devices",
        "str",
        "",
        'Comma-separated GPU ids, e.g. "0,1" (round robin over process-mode workers).',
    ),
    Key("mem_optim", "bool", True, "Enable Paddle Inference memory optimisation."),
    Key("ir_optim", "bool", False, "Enable IR graph optimisation passes."),
    Key(
        "precision",
        "str",
        "fp32",
        "Inference precision (TensorRT, or bf16 with oneDNN).",
        choices=PRECISIONS,
        lowercase=True,
    ),
    Key("use_calib", "bool", False, "TensorRT int8 calibration mode."),
    Key("use_mkldnn", "bool", False, "Enable oneDNN (MKLDNN) on CPU."),
    Key(
        "backend",
        "str",
        "paddle",
        "Inference backend: paddle (Paddle Inference), openvino (reads *.pdmodel, else "
        "model.onnx) or onnxruntime (reads model.onnx); the last two are CPU only.",
        choices=("paddle", "openvino", "onnxruntime"),
        extension=True,
    ),
    Key(
        "onednn_workarounds",
        "bool",
        True,
        "With use_mkldnn, delete the oneDNN passes known to crash Paddle 3.3.1 on this "
        "program (PIR programs with double attributes, e.g. detectors).",
        extension=True,
    ),
    Key(
        "startup_probe",
        "bool",
        True,
        "Build and run a backend that might crash (oneDNN, openvino, onnxruntime) once in a "
        "child process first; if it dies, run Paddle with oneDNN off and warn.",
        extension=True,
    ),
    Key(
        "mkldnn_cache_capacity",
        "int",
        0,
        "oneDNN shape cache capacity; 0 means default.",
        minimum=0,
    ),
    Key("mkldnn_op_list", "str_list", None, "Ops that run with oneDNN; null means all."),
    Key("mkldnn_bf16_op_list", "str_list", None, "Ops that run in bf16 with oneDNN."),
    Key("min_subgraph_size", "int", 3, "Smallest subgraph TensorRT takes over.", minimum=0),
    Key("fetch_list", "str_list", None, "Output names to fetch; null means all fetch vars."),
    Key(
        "min_input_shape",
        "shapes",
        None,
        "TensorRT dynamic shape: smallest shape per input.",
        extension=True,
    ),
    Key(
        "max_input_shape",
        "shapes",
        None,
        "TensorRT dynamic shape: largest shape per input.",
        extension=True,
    ),
    Key(
        "opt_input_shape",
        "shapes",
        None,
        "TensorRT dynamic shape: shape to optimise for.",
        extension=True,
    ),
    Key(
        "use_static",
        "bool",
        False,
        "Serialize built TensorRT engines to trt_cache_dir and reuse them.",
        extension=True,
    ),
    Key(
        "trt_cache_dir",
        "str",
        None,
        "Where TensorRT engines are cached; null means <model_config>/_opt_cache.",
        extension=True,
    ),
    Key(
        "trt_workspace_size",
        "int",
        DEFAULT_TRT_WORKSPACE_SIZE,
        "TensorRT workspace in bytes.",
        minimum=1,
        extension=True,
    ),
    Key("trt_max_batch_size", "int", 32, "TensorRT max batch size.", minimum=1, extension=True),
    Key(
        "collect_shape_range_info",
        "str",
        "",
        "Write the input shape ranges seen to this file (first run of tuned TensorRT).",
        extension=True,
    ),
    Key(
        "tuned_dynamic_shape_info",
        "str",
        "",
        "Read TensorRT dynamic shapes from this file (written by collect_shape_range_info).",
        extension=True,
    ),
    Key("use_trt", "any", None, "Ignored: only device_type 2 enables TensorRT."),
)

#: Keys accepted but dropped from the loaded config (they have no effect).
IGNORED_KEYS: frozenset[str] = frozenset({"use_trt"})

SECTIONS: dict[str, tuple[Key, ...]] = {
    "": TOP_KEYS,
    "dag": DAG_KEYS,
    "dag.tracer": TRACER_KEYS,
    "op.*": OP_KEYS,
    "op.*.local_service_conf": LOCAL_KEYS,
}


def _build_key_docs() -> dict[str, str]:
    docs: dict[str, str] = {}
    for prefix, keys in SECTIONS.items():
        for key in keys:
            docs[f"{prefix}.{key.name}" if prefix else key.name] = key.doc
    return docs


#: Dotted key path (`op.*` for any Op) -> one-line meaning, for commenting config.yml.
KEY_DOCS: dict[str, str] = _build_key_docs()
