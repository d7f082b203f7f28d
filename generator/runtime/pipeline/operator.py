"""`Op`, `RequestOp` and `ResponseOp` with Paddle Serving 0.9's API and semantics.

Override `init_op`, `preprocess`, `process` (rarely) and `postprocess` exactly as in Paddle
Serving; see `generator.runtime.executor.dag` for how Ops are scheduled.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from generator.runtime.errors import (
    CustomException,
    DagError,
    ErrorCode,
    format_exception,
    short_text,
)
from generator.runtime.pipeline import batching
from generator.runtime.pipeline.channel_data import ChannelData

_LOGGER = logging.getLogger(__name__)

#: name of the request Op; the first Op's `input_dicts` key
DAG_EXECUTOR_NAME = "@DAGExecutor"

Item = tuple[int, int, dict]  # (data_id, log_id, input_dicts)


def _log_failure(log_id: int, op_name: str, func: str, exc: BaseException) -> None:
    """Log a failed hook once: its traceback, with the exception text cut short."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    _LOGGER.error("(log_id=%s) [%s] %s failed: %s: %s\n%s", log_id, op_name, func,
                  type(exc).__name__, short_text(str(exc)), stack.rstrip())


class Op:
    """A pipeline stage: preprocess -> process (model inference) -> postprocess."""

    def __init__(self, name: str | None = None, input_ops: Sequence[Op] | None = None,
                 server_endpoints: list[str] | None = None, fetch_list: list[str] | None = None,
                 client_config: str | None = None, client_type: str | None = None,
                 concurrency: int | None = None, timeout: int | None = None, retry: int = 0,
                 batch_size: int | None = None, auto_batching_timeout: int | None = None,
                 local_service_handler: Any = None, jump_to_ops: Sequence[Op] | None = None):
        self.name = name or type(self).__name__
        self._input_ops: list[Op] = []
        self.set_input_ops(list(input_ops or []))
        self._server_endpoints = server_endpoints
        self._fetch_names = fetch_list
        self._fetch_from_local = False  # fetch_list came from local_service_conf
        self._client_config = client_config
        self.client_type = client_type
        self.concurrency = concurrency
        self._timeout = timeout
        self._retry = max(1, retry) if retry else None
        self._batch_size = batch_size
        self._auto_batching_timeout = auto_batching_timeout
        self._local_service_handler = local_service_handler
        self._jump_to_ops = list(jump_to_ops or [])
        self.client: Any = None
        self.concurrency_idx: int | None = None
        self.dynamic_shape_info: dict = {}
        self.model_config: str | None = None
        self.local_service_conf: dict = {}
        self.with_serving = False
        self.right_feed_names: list[str] = []
        self.right_fetch_names: list[str] = []
        #: output name -> count output name, for auto-batching outputs that are not per-row
        self.batch_split_counts: dict[str, str] = {}
        self._process_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._init_lock = threading.Lock()

    # ----------------------------------------------------------------- graph
    def get_input_ops(self) -> list[Op]:
        return self._input_ops

    def set_input_ops(self, ops: Sequence[Op] | Op) -> None:
        if not isinstance(ops, (list, tuple)):
            ops = [ops]
        self._input_ops = []
        for op in ops:
            if not isinstance(op, Op):
                raise DagError(f"Op '{self.name}': input_ops must be Ops, found {type(op).__name__}")
            self._input_ops.append(op)

    def get_jump_to_ops(self) -> list[Op]:
        return self._jump_to_ops

    def set_jump_to_ops(self, ops: Sequence[Op]) -> None:
        self._jump_to_ops = list(ops)

    def check_jumping(self, input_data: Any) -> bool:
        return False

    # ---------------------------------------------------------------- config
    def init_from_dict(self, conf: dict) -> None:
        """Fill constructor arguments left as None from the validated op config."""
        if self.concurrency is None:
            self.concurrency = conf["concurrency"]
        if self._timeout is None:
            self._timeout = conf["timeout"]
        if self._retry is None:
            self._retry = conf["retry"]
        if self._batch_size is None:
            self._batch_size = conf["batch_size"]
        if self._auto_batching_timeout is None:
            self._auto_batching_timeout = conf["auto_batching_timeout"]
        if self._server_endpoints is None:
            self._server_endpoints = conf.get("server_endpoints")
        local = conf.get("local_service_conf") or {}
        self.local_service_conf = local
        self.model_config = local.get("model_config")
        if self._server_endpoints:
            raise DagError(
                f"Op '{self.name}': server_endpoints (remote brpc/pipeline_grpc serving) is not "
                "supported by this runtime; serve the model in-process with "
                "local_service_conf.model_config and client_type: local_predictor"
            )
        if self.model_config:
            self.with_serving = True
            self.client_type = self.client_type or local.get("client_type") or "local_predictor"
            if self.client_type != "local_predictor":
                raise DagError(
                    f"Op '{self.name}': client_type '{self.client_type}' is not supported; this "
                    "runtime runs models in-process: use client_type: local_predictor"
                )
            fetch = local.get("fetch_list") or conf.get("fetch_list")
            if self._fetch_names is None:
                self._fetch_names = fetch
                self._fetch_from_local = bool(local.get("fetch_list"))

    @property
    def timeout_s(self) -> float:
        return (self._timeout or -1) / 1000.0

    @property
    def batch_size(self) -> int:
        return self._batch_size or 1

    @property
    def auto_batching_timeout_s(self) -> float | None:
        t = self._auto_batching_timeout
        return None if t is None or t <= 0 else t / 1000.0

    def set_dynamic_shape_info(self) -> None:
        """Override to set `self.dynamic_shape_info` (TensorRT min/max/opt input shapes)."""

    def init_op(self) -> None:
        """Override to load resources; runs once per process (or once in thread mode)."""

    # ----------------------------------------------------------------- model
    def _build_client(self, device: str, device_id: int, streams: int = 1) -> Any:
        """The Op's predictor on one device; `streams`: the thread instances that share it."""
        from generator.runtime.inference.predictor import LocalPredictor

        self.set_dynamic_shape_info()
        info = self.dynamic_shape_info or {}
        if info and set(info) != {"min_input_shape", "max_input_shape", "opt_input_shape"}:
            raise DagError(
                f"Op '{self.name}': dynamic_shape_info must have exactly the keys "
                f"min_input_shape, max_input_shape, opt_input_shape (found {sorted(info)})"
            )
        predictor = LocalPredictor.from_local_service_conf(
            {**self.local_service_conf, "streams": streams}, device=device, device_id=device_id,
            dynamic_shape_info=info or None,
        )
        self.right_feed_names = list(predictor.feed_names)
        self.right_fetch_names = list(predictor.fetch_names)
        if self._fetch_names:
            known = {*self.right_fetch_names, *predictor.output_names}
            unknown = [n for n in self._fetch_names if n not in known]
            if unknown:
                self._fetch_names = self._unknown_fetch(unknown)
        return predictor

    def _unknown_fetch(self, unknown: list[str]) -> list[str] | None:
        """The fetch list to use when some of its names are no model output. Paddle Serving 0.9
        fails every request of the default `process` on such a local_service_conf.fetch_list
        (refused here at start-up), lets an Op's own `process` decide, and ignores an Op-level
        fetch_list for a local model (warned here; every output is fetched)."""
        where = (f"{unknown} not among the model's fetch names {self.right_fetch_names} "
                 f"({self.model_config}/serving_server_conf.prototxt)")
        if not self._fetch_from_local:
            _LOGGER.warning("Op '%s': fetch_list %s; ignored: every output is fetched (Paddle "
                            "Serving ignores an Op-level fetch_list for a local model)",
                            self.name, where)
            return None
        if type(self).process is Op.process:
            raise DagError(f"Op '{self.name}': local_service_conf.fetch_list {where}")
        _LOGGER.warning("Op '%s': local_service_conf.fetch_list %s; unknown names are skipped "
                        "when %s.process fetches them", self.name, where, type(self).__name__)
        return self._fetch_names

    # ------------------------------------------------------ user-facing hooks
    def preprocess(self, input_dicts: dict, data_id: int = 0, log_id: int = 0):
        """Default: pass the single predecessor's dict on. Returns (feed, is_skip, errcode, errinfo)."""
        if len(input_dicts) != 1:
            raise NotImplementedError(
                f"Op '{self.name}' has {len(input_dicts)} input ops; override preprocess to "
                "combine their outputs"
            )
        ((_, input_dict),) = input_dicts.items()
        return input_dict, False, None, ""

    def process(self, feed_batch: list[dict], typical_logid: int = 0):
        """Run inference on `feed_batch[0]`. Returns (fetch_dict, err_code, err_info)."""
        feed = feed_batch[0]
        if not isinstance(feed, dict):
            return None, ErrorCode.TYPE_ERROR, f"feed must be a dict, found {type(feed).__name__}"
        keys = [k for k in feed if "lod" not in k]
        if sorted(keys) != sorted(self.right_feed_names):
            missing = [k for k in self.right_feed_names if k not in keys]
            extra = [k for k in keys if k not in self.right_feed_names]
            return None, ErrorCode.INPUT_PARAMS_ERROR, (
                f"invalid arg list: preprocess returned feed keys {keys}, but the model's feed "
                f"names are {self.right_feed_names} (missing: {missing}, unexpected: {extra})"
            )
        for key, value in feed.items():
            if not isinstance(value, np.ndarray):
                return None, ErrorCode.TYPE_ERROR, (
                    f"feed '{key}' must be a np.ndarray, found {type(value).__name__}"
                )
        result = self.client.predict(feed=feed, fetch=self._fetch_names, batch=True,
                                     log_id=typical_logid)
        return result, ErrorCode.OK, ""

    def postprocess(self, input_data: dict, fetch_data: Any, data_id: int = 0, log_id: int = 0):
        """Default: return the fetch dict. Returns (dict, prod_errcode, prod_errinfo)."""
        return fetch_data, None, ""

    # ------------------------------------------------------------ execution
    def _error(self, data_id: int, log_id: int, code: int, info: str) -> ChannelData:
        return ChannelData(error_code=code, error_info=info, data_id=data_id, log_id=log_id)

    def _call(self, func_name: str, log_id: int, *args):
        """Call a user hook; an exception becomes (None, CustomException)."""
        try:
            return getattr(self, func_name)(*args), None
        except CustomException as exc:
            return None, exc
        except Exception as exc:  # noqa: BLE001 - user code: report, keep serving
            _log_failure(log_id, self.name, func_name, exc)
            return None, CustomException(
                ErrorCode.UNKNOW,
                format_exception(exc, log_id, type(self).__name__, func_name, self.name),
            )

    def run_batch(self, items: list[Item]) -> list[tuple[ChannelData, float]]:
        """Run preprocess/process/postprocess for a batch of requests.

        Returns, per item, its output ChannelData and the inference time in seconds.
        """
        n = len(items)
        outputs: list[ChannelData | None] = [None] * n
        infer_s = [0.0] * n
        preped: dict[int, Any] = {}
        for i, (data_id, log_id, input_dicts) in enumerate(items):
            res, err = self._call("preprocess", log_id, input_dicts, data_id, log_id)
            if err is not None:
                outputs[i] = self._error(data_id, log_id, err.code, err.message)
                continue
            if not isinstance(res, tuple) or len(res) != 4:
                outputs[i] = self._error(data_id, log_id, ErrorCode.TYPE_ERROR,
                                         f"[{self.name}] preprocess must return (feed, is_skip, "
                                         f"prod_errcode, prod_errinfo), found {type(res).__name__}")
                continue
            feed, is_skip, prod_code, prod_info = res
            if prod_code is not None:
                outputs[i] = ChannelData(error_code=ErrorCode.PRODUCT_ERROR, prod_error_code=prod_code,
                                         prod_error_info=prod_info, data_id=data_id, log_id=log_id)
                continue
            if is_skip or not self.with_serving:
                preped[i] = ("skip", feed)
            else:
                preped[i] = ("run", feed)

        midped: dict[int, Any] = {i: feed for i, (kind, feed) in preped.items() if kind == "skip"}
        self._run_process(items, preped, midped, outputs, infer_s)

        for i, fetch in midped.items():
            data_id, log_id, input_dicts = items[i]
            res, err = self._call("postprocess", log_id, input_dicts, fetch, data_id, log_id)
            if err is not None:
                outputs[i] = self._error(data_id, log_id, err.code, err.message)
                continue
            if not isinstance(res, tuple) or len(res) != 3 or not isinstance(res[0], dict):
                outputs[i] = self._error(data_id, log_id, ErrorCode.TYPE_ERROR,
                                         f"[{self.name}] postprocess should return "
                                         "(dict, prod_errcode, prod_errinfo)")
                continue
            out, prod_code, prod_info = res
            if prod_code is not None:
                outputs[i] = ChannelData(error_code=ErrorCode.PRODUCT_ERROR, prod_error_code=prod_code,
                                         prod_error_info=prod_info, data_id=data_id, log_id=log_id)
                continue
            outputs[i] = ChannelData(dictdata=out, data_id=data_id, log_id=log_id)
        return [(out, t) for out, t in zip(outputs, infer_s, strict=True)]

    def _run_process(self, items, preped, midped, outputs, infer_s) -> None:
        """Group runnable feeds into merged batches and run `process` on each group."""
        runnable = [i for i, (kind, _) in preped.items() if kind == "run"]
        if len(runnable) <= 1:
            batches = [runnable] if runnable else []
        else:
            groups: dict[Any, list[int]] = {}
            singles: list[list[int]] = []
            for i in runnable:
                feed = preped[i][1]
                sig = batching.merge_signature(feed) if isinstance(feed, dict) else None
                if sig is None:
                    singles.append([i])
                else:
                    groups.setdefault(sig, []).append(i)
            batches = batching.within_rows(  # e.g. an ONNX conversion made for batch 1
                [*groups.values(), *singles], {i: preped[i][1] for i in runnable},
                getattr(self.client, "max_batch_size", None))
        for idxs in batches:
            feeds = [preped[i][1] for i in idxs]
            typical_logid = items[idxs[0]][1]
            start = time.perf_counter()
            if isinstance(feeds[0], list):  # mini-batch mode: one process call per element
                results, code, info = [], ErrorCode.OK, ""
                for element in feeds[0]:
                    res, code, info = self._timed_process([element], typical_logid)
                    if code != ErrorCode.OK:
                        break
                    results.append(res)
                split = [results]
            elif isinstance(feeds[0], dict):
                merged, rows = batching.merge_feeds(feeds)
                res, code, info = self._timed_process([merged], typical_logid)
                split = None
                if code == ErrorCode.OK:
                    if not isinstance(res, dict):
                        code, info = ErrorCode.TYPE_ERROR, "process must return a dict"
                    else:
                        try:
                            split = batching.split_outputs(res, rows, self.batch_split_counts)
                        except batching.BatchSplitError as exc:
                            code, info = ErrorCode.TYPE_ERROR, str(exc)
            else:
                code = ErrorCode.TYPE_ERROR
                info = f"expect input type is dict or list, but get {type(feeds[0]).__name__}"
            elapsed = (time.perf_counter() - start) / len(idxs)
            for pos, i in enumerate(idxs):
                data_id, log_id, _ = items[i]
                infer_s[i] = elapsed
                if code != ErrorCode.OK:
                    msg = (f"[{self.name}] failed to predict. {info}. Please check the input dict "
                           "and PipelineServingLogs/pipeline.log for more details.")
                    outputs[i] = self._error(data_id, log_id, code, msg)
                else:
                    midped[i] = split[pos]

    def _timed_process(self, feed_batch: list, typical_logid: int):
        """`process` under the Op's timeout and retry (6000 when every attempt times out)."""
        if self.timeout_s <= 0:
            return self._guarded_process(feed_batch, typical_logid)
        if self._process_executor is None:
            # One thread per worker: a timed-out call finishes before the next one starts, so
            # a predictor is never used by two threads at once.
            self._process_executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"{self.name}-process")
        retries = self._retry or 1
        for attempt in range(retries):
            fut = self._process_executor.submit(self._guarded_process, feed_batch, typical_logid)
            try:
                return fut.result(timeout=self.timeout_s)
            except concurrent.futures.TimeoutError:
                _LOGGER.warning("(log_id=%s) [%s] process timed out after %d ms (attempt %d/%d)",
                                typical_logid, self.name, self._timeout, attempt + 1, retries)
        return None, ErrorCode.TIMEOUT, (
            f"process exceeded the Op timeout of {self._timeout} ms ({retries} attempt(s)); raise "
            f"op.{self.name}.timeout in config.yml or lower the load"
        )

    def _guarded_process(self, feed_batch: list, typical_logid: int):
        try:
            res = self.process(feed_batch, typical_logid)
        except CustomException as exc:
            return None, exc.code, exc.message
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            _log_failure(typical_logid, self.name, "process", exc)
            return None, ErrorCode.UNKNOW, format_exception(
                exc, typical_logid, type(self).__name__, "process", self.name)
        if not isinstance(res, tuple) or len(res) != 3:
            return None, ErrorCode.TYPE_ERROR, "process must return (fetch_dict, err_code, err_info)"
        out, code, info = res
        return out, ErrorCode.OK if code is None else int(code), info or ""


