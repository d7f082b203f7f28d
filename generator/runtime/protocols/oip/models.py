"""The models a service shows over the Open Inference Protocol, independent of REST or gRPC.

* `{name}` (`ServiceModel`): the whole service, pre- and post-processing included. One input per
  request key of the Paddle Serving protocol: a BYTES element becomes the key's value (the
  base64 of it for inputs declared `base64`, e.g. an image file), several elements become keys
  `key_0 .. key_N`; numeric inputs are sent as tensors (Paddle Serving's tensor mode). Outputs
  are those the service declares (`TensorSpec`): BYTES outputs carry the response values (the
  JSON results), numeric ones are parsed from them or taken from the response's tensors.
  Undeclared, every response key is a BYTES output.
* `{name}-model` (`BareModel`): the inference model of the service's last model Op, its feed
  and fetch variables as typed tensors, run on a predictor of its own.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generator.runtime.errors import OverloadedError, shorten
from generator.runtime.proto import Request
from generator.runtime.proto.tensors import ndarray_to_tensor, tensor_to_value
from generator.runtime.protocols.oip.tensors import DATATYPES, TensorError, datatype_of
from generator.runtime.protocols.status import (
    INTERNAL,
    INVALID,
    NOT_FOUND,
    OVERLOADED,
    TIMED_OUT,
    UNAVAILABLE,
    Status,
    for_error_code,
)

_PADDLE_DTYPE = {"float32": "FP32", "float64": "FP64", "float16": "FP16", "int64": "INT64",
                 "int32": "INT32", "int16": "INT16", "int8": "INT8", "uint8": "UINT8",
                 "bool": "BOOL", "bfloat16": "FP16"}


class OipError(Exception):
    """A request the protocol answers with an error: `status` (from `protocols.status`) gives
    its HTTP status and gRPC code."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TensorSpec:
    """One input or output in model metadata; `base64`: a BYTES input sent on as base64 text."""

    name: str
    datatype: str
    shape: list[int] = field(default_factory=lambda: [-1])
    base64: bool = False

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


class ServiceModel:
    """`{name}`: the service's pipeline behind `call(Request) -> Response`."""

    platform = "paddle_serving_pipeline"

    def __init__(self, name: str, call: Callable[[Any], Any], ready: Callable[[], bool],
                 inputs: list[TensorSpec] | None = None,
                 outputs: list[TensorSpec] | None = None) -> None:
        self.name = name
        self._call = call
        self._ready = ready
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])

    def ready(self) -> bool:
        return self._ready()

    def infer(self, inputs: dict[str, np.ndarray], wanted: list[str] | None) -> dict[str, np.ndarray]:
        """Run the pipeline on OIP inputs; returns the outputs by name (all, or `wanted`)."""
        specs = {s.name: s for s in self.inputs}
        missing = [name for name in specs if name not in inputs]
        if self.inputs and missing:
            raise OipError(INVALID, f"model '{self.name}' expects inputs "
                                    f"{sorted(specs)}; missing {missing}")
        request = Request(name=self.name, method="prediction")
        for name, array in inputs.items():
            spec = specs.get(name)
            if datatype_of(array) == "BYTES":
                self._add_values(request, name, array, spec is not None and spec.base64)
            else:
                request.tensors.append(ndarray_to_tensor(name, array))
        response = self._call(request)
        if response.err_no != 0:
            raise OipError(for_error_code(response.err_no), f"err_no {response.err_no}: {response.err_msg}")
        return self._outputs(response, wanted)

    @staticmethod
    def _add_values(request: Any, name: str, array: np.ndarray, as_base64: bool) -> None:
        items = list(np.asarray(array, dtype=np.object_).ravel())
        keys = [name] if len(items) == 1 else [f"{name}_{i}" for i in range(len(items))]
        for key, item in zip(keys, items, strict=True):
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            if as_base64:
                text = base64.b64encode(data).decode("ascii")
            else:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise OipError(INVALID, f"input '{shorten(name)}': BYTES element is not "
                                            "UTF-8 text") from None
            request.key.append(key)
            request.value.append(text)

    def _outputs(self, response: Any, wanted: list[str] | None) -> dict[str, np.ndarray]:
        values = dict(zip(response.key, response.value, strict=False))
        tensors = {t.name: tensor_to_value(t, allow_pickle=False)[0] for t in response.tensors}
        specs = self.outputs or [TensorSpec(k, "BYTES") for k in values] + [
            TensorSpec(k, datatype_of(np.asarray(v))) for k, v in tensors.items()]
        names = [s.name for s in specs]
        for name in wanted or []:
            if name not in names:
                raise OipError(INVALID, f"model '{self.name}' has no output "
                                        f"'{shorten(name)}'; outputs: {names}")
        out: dict[str, np.ndarray] = {}
        for spec in specs:
            if wanted and spec.name not in wanted:
                continue
            out[spec.name] = self._output(spec, values, tensors)
        return out

    def _output(self, spec: TensorSpec, values: dict[str, str],
                tensors: dict[str, Any]) -> np.ndarray:
        if spec.name in tensors:
            return np.asarray(tensors[spec.name])
        if spec.name in values:
            texts = [values[spec.name]]
        else:  # several images: key_0 .. key_N
            texts = []
            while f"{spec.name}_{len(texts)}" in values:
                texts.append(values[f"{spec.name}_{len(texts)}"])
        if not texts:
            raise OipError(INTERNAL, f"the service answered no '{spec.name}' (keys: "
                                     f"{sorted(values)})")
        if spec.datatype == "BYTES":
            array = np.empty(len(texts), dtype=np.object_)
            array[:] = [t.encode("utf-8") for t in texts]
            return array
        try:
            parsed = [json.loads(t) for t in texts]
            array = np.asarray(parsed[0] if len(parsed) == 1 else parsed,
                               dtype=DATATYPES[spec.datatype])
        except (ValueError, TypeError) as exc:
            raise OipError(INTERNAL, f"output '{spec.name}' is not {spec.datatype} JSON: "
                                     f"{exc}") from None
        return array


class BareModel:
    """`{name}-model`: one Op's inference model, fed directly.

    Inference runs where the pipeline runs it, within its bounds: on a free copy of the Op (its
    predictor, in its runner threads) when `runner` is given (thread mode, `batch_size` 1);
    otherwise (process mode, auto-batching) on one predictor of its own in one thread, with at
    most `max_waiting` callers waiting (0: no bound). Never on the request's thread: each
    thread that runs a model keeps its own caches.
    """

    platform = "paddle_inference"

    def __init__(self, name: str, op: Any, ready: Callable[[], bool],
                 runner: Callable[[Callable[[Any], Any]], Any] | None = None,
                 max_waiting: int = 0, timeout_s: float = 30.0) -> None:
        self.name = name
        self._op = op
        self._ready = ready
        self._predictor: Any = None
        self._lock = threading.Lock()
        self._vars: tuple[list[TensorSpec], list[TensorSpec]] | None = None
        self._runner = runner
        self._timeout_s = timeout_s
        self._max_waiting = max_waiting
        self._waiting = 0
        self._own: concurrent.futures.ThreadPoolExecutor | None = None

    def _describe(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        if self._vars is None:
            predictor = self._op.client or self._get()
            feeds = [TensorSpec(v.alias_name, _PADDLE_DTYPE.get(v.dtype, "FP32"),
                                [-1, *[int(d) for d in v.shape]]) for v in predictor.feed_vars]
            fetches = [TensorSpec(v.alias_name, _PADDLE_DTYPE.get(v.dtype, "FP32"),
                                  [-1, *[int(d) for d in v.shape]])
                       for v in predictor.fetch_vars]
            self._vars = (feeds, fetches)
        return self._vars

    @property
    def inputs(self) -> list[TensorSpec]:
        return self._describe()[0]

    @property
    def outputs(self) -> list[TensorSpec]:
        return self._describe()[1]

    def ready(self) -> bool:
        return self._ready()

    def _get(self) -> Any:
        """The predictor of its own (process mode, auto-batching), built on first use."""
        with self._lock:
            if self._predictor is None:
                if self._op.client is not None:
                    self._predictor = self._op.client.clone()
                else:  # process mode: the Op's predictors live in its worker processes
                    from generator.runtime.inference.predictor import LocalPredictor

                    self._predictor = LocalPredictor.from_local_service_conf(
                        self._op.local_service_conf)
                self._own = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix=f"oip-{self.name}")
            return self._predictor

    def _run_own(self, fn: Callable[[Any], Any]) -> Any:
        predictor = self._get()
        with self._lock:
            if self._max_waiting and self._waiting > self._max_waiting:  # one runs
                raise OverloadedError(f"server overloaded: {self._waiting} calls wait for model "
                                      f"'{self.name}' (dag.channel_size); retry later")
            self._waiting += 1

        def done(_: Any) -> None:
            with self._lock:
                self._waiting -= 1

        try:
            future = self._own.submit(fn, predictor)
        except RuntimeError:
            done(None)
            raise OverloadedError("the service is shutting down") from None
        future.add_done_callback(done)
        return future.result(timeout=self._timeout_s)

    def infer(self, inputs: dict[str, np.ndarray], wanted: list[str] | None) -> dict[str, np.ndarray]:
        """Feed `inputs` by name (the model's feed alias names); returns the fetch tensors."""
        specs = {s.name: s for s in self.inputs}
        missing = [n for n in specs if n not in inputs]
        extra = [shorten(n) for n in inputs if n not in specs][:8]
        if missing or extra:
            raise OipError(INVALID, f"model '{self.name}' takes inputs {list(specs)} "
                                    f"(missing: {missing}, unexpected: {extra})")
        outputs = [s.name for s in self.outputs]
        for name in wanted or []:
            if name not in outputs:
                raise OipError(INVALID, f"model '{self.name}' has no output "
                                        f"'{shorten(name)}'; outputs: {outputs}")
        for name, array in inputs.items():
            if datatype_of(array) != specs[name].datatype:
                raise OipError(INVALID, f"input '{name}' is {datatype_of(array)}; the model "
                                        f"takes {specs[name].datatype}")

        def run(predictor: Any) -> dict[str, np.ndarray]:
            return predictor.predict(inputs, fetch=wanted or None)

        try:
            result = (self._runner or self._run_own)(run)
        except OverloadedError as exc:
            raise OipError(OVERLOADED, str(exc)) from None
        except concurrent.futures.TimeoutError:
            raise OipError(TIMED_OUT, f"model '{self.name}' did not answer within "
                                     f"{self._timeout_s:g} s (request_timeout_s)") from None
        except Exception as exc:
            raise OipError(INVALID, f"inference failed: {exc}") from None
        return {k: v for k, v in result.items() if not k.endswith(".lod")}

    def close(self) -> None:
        if self._own is not None:
            self._own.shutdown(wait=False)


class ModelRegistry:
    """The models served, by name, and the server's identity for `GET /v2`."""

    server_name = "paddle-serving-scaffold"
    extensions = ["binary_tensor_data"]

    def __init__(self, version: str, live: Callable[[], bool], ready: Callable[[], bool]) -> None:
        self.version = version
        self._live = live
        self._ready = ready
        self.models: dict[str, Any] = {}

    def add(self, model: Any) -> None:
        self.models[model.name] = model

    def live(self) -> bool:
        return self._live()

    def ready(self) -> bool:
        return self._ready()

    def get(self, name: str, version: str = "") -> Any:
        model = self.models.get(name)
        if model is None:
            raise OipError(NOT_FOUND, f"unknown model '{shorten(name)}'; models: "
                                      f"{sorted(self.models)}")
        if version not in ("", "1"):
            raise OipError(NOT_FOUND, f"model '{name}' has only version 1, not "
                                      f"'{shorten(version)}'")
        return model

    def metadata(self, name: str, version: str = "") -> dict[str, Any]:
        model = self.get(name, version)
        return {"name": model.name, "versions": ["1"], "platform": model.platform,
                "inputs": [s.metadata() for s in model.inputs],
                "outputs": [s.metadata() for s in model.outputs]}

    def infer(self, name: str, version: str, inputs: dict[str, np.ndarray],
              wanted: list[str] | None) -> dict[str, np.ndarray]:
        model = self.get(name, version)
        if not model.ready():
            raise OipError(UNAVAILABLE, f"model '{name}' is not ready")
        try:
            return model.infer(inputs, wanted)
        except TensorError as exc:
            raise OipError(INVALID, str(exc)) from None


def build_registry(name: str, call: Callable[[Any], Any], ready: Callable[[], bool],
                   ops: list[Any], version: str,
                   runner_for: Callable[[str], Any] | None = None, max_waiting: int = 0,
                   timeout_s: float = 30.0) -> ModelRegistry:
    """`{name}` for the pipeline, and `{name}-model` for the last Op that has a model.

    The pipeline's inputs and outputs are those of the last Op's `oip_signature()` (a pair of
    `TensorSpec` lists), when it has one. `runner_for(op_name)`: how to run a function on one
    of that Op's copies (`DagExecutor.copy_runner`); `max_waiting` and `timeout_s` bound the
    bare model where there is none (see `BareModel`).
    """
    registry = ModelRegistry(version, live=lambda: True, ready=ready)
    last = ops[-1] if ops else None
    signature = getattr(last, "oip_signature", None)
    inputs, outputs = signature() if callable(signature) else ([], [])
    registry.add(ServiceModel(name, call, ready, inputs, outputs))
    with_model = [op for op in ops if getattr(op, "model_config", None)]
    if with_model:
        op = with_model[-1]
        registry.add(BareModel(f"{name}-model", op, ready,
                               runner_for(op.name) if runner_for else None, max_waiting,
                               timeout_s))
    return registry
