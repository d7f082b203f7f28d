"""In-process Paddle Inference, the equivalent of `paddle_serving_app.local_predict.LocalPredictor`.

`LocalPredictor` loads a model folder (any layout `find_model_files` knows), reads the
`serving_server_conf.prototxt` next to it for alias names and dtypes, and runs the model on an
inference backend (`generator.runtime.inference.backends`: Paddle Inference by default, OpenVINO or ONNX
Runtime by `backend:`). Aliases, dtype casts, LoD keys and fetch selection are handled here, the
same for every backend. `build_inference_config` (in `backends.paddle_backend`) is the single
place where `local_service_conf` options become `paddle.inference.Config` calls.

A backend that might crash the interpreter (oneDNN, OpenVINO, ONNX Runtime) is first built and
run once in a child process (`probe`); if that child dies, the predictor falls back to
Paddle Inference with oneDNN off and says so (`fallback_reason`).

A predictor is not thread safe: give each worker thread its own `clone()`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generator.runtime.errors import PredictorError
from generator.runtime.inference.backends import BACKENDS, Engine, create_engine
from generator.runtime.inference.backends.paddle_backend import PRECISIONS, build_inference_config
from generator.runtime.inference.model_files import ModelFiles, find_model_files, list_dir
from generator.runtime.inference.options import (
    DEVICES,
    PredictorOptions,
    make_options,
    options_from_local_service_conf,
)
from generator.runtime.inference.probe import startup_fallback
from generator.runtime.inference.warmup import warmup, warmup_feed
from generator.serving_model import DTYPE_TO_CODE, ModelConfigError, VarInfo, read_model_config

__all__ = [
    "BACKENDS",
    "DEVICES",
    "PRECISIONS",
    "LocalPredictor",
    "ModelFiles",
    "PredictorOptions",
    "build_inference_config",
    "find_model_files",
]

logger = logging.getLogger(__name__)

_MKLDNN_HINT = (
    "use_mkldnn is true: oneDNN is known to fail on some exported models; set "
    "`use_mkldnn: false` in local_service_conf"
)


def _first_lines(exc: BaseException, n: int = 6) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    text = "\n".join(lines[:n])
    return f"{type(exc).__name__}: {text}" + ("\n..." if len(lines) > n else "")


@dataclass(frozen=True)
class _Feed:
    alias: str
    name: str
    dtype: np.dtype
    reshape: tuple[int, ...] | None  # per-sample shape for list inputs, None if unknown
    lod_keys: tuple[str, ...]


def _list_shape(var: VarInfo, info: Any) -> tuple[int, ...] | None:
    """The per-sample shape list inputs are reshaped to: the prototxt shape where it is the
    whole per-sample shape (all dims fixed; one dim fewer than the program's input where that
    is known). Paddle Serving's converter drops dynamic dims, so `shape: 3` of a
    [-1, 3, -1, -1] input is no shape to reshape to."""
    shape = tuple(var.shape)
    if not shape or var.is_lod_tensor or any(d < 0 for d in shape):
        return None
    rank = len(info.shape) if info is not None and info.shape else None
    return shape if rank is None or rank == len(shape) + 1 else None


class LocalPredictor:
    """Paddle Inference predictor for one model folder, Paddle Serving compatible.

    Construct it with the options of `local_service_conf` (see `from_local_service_conf`).
    Raises `PredictorError` when the model cannot be found or loaded.
    """

    def __init__(self, model_dir: str | Path | None = None, **options: Any) -> None:
        """Load `model_dir`; `options` are `PredictorOptions` fields (thread_num, device,
        device_id, precision, backend, ...), each defaulting as in `local_service_conf`."""
        if model_dir is None:  # Paddle Serving style: LocalPredictor() then load_model_config()
            self._engine = None
            return
        self.model_dir = Path(model_dir)
        self.options = make_options(**options)
        self.options.validate()
        self.model_files = find_model_files(self.model_dir)
        #: What replaced the configured backend by Paddle with oneDNN off, and why ("" if not).
        self.options, self.fallback_reason = startup_fallback(self.model_dir, self.model_files,
                                                              self.options)
        if self.fallback_reason:
            logger.warning("%s", self.fallback_reason)
        self._engine = self._create_engine()
        self._load_vars()
        self._bind_fetch()

    # ------------------------------------------------------------------ construction

    def load_model_config(self, model_path: str | Path, use_gpu: bool = False, gpu_id: int = 0,
                          use_profile: bool = False, thread_num: int = 1, mem_optim: bool = True,
                          ir_optim: bool = False, use_trt: bool = False, use_lite: bool = False,
                          use_xpu: bool = False, precision: str = "fp32",
                          use_mkldnn: bool = False, mkldnn_cache_capacity: int = 0,
                          mkldnn_op_list: list[str] | None = None,
                          mkldnn_bf16_op_list: list[str] | None = None,
                          use_feed_fetch_ops: bool = False, use_ascend_cl: bool = False,
                          min_subgraph_size: int = 3,
                          dynamic_shape_info: dict[str, dict[str, list[int]]] | None = None,
                          use_calib: bool = False) -> None:
        """`paddle_serving_app.local_predict.LocalPredictor.load_model_config`, same arguments.
        Lite, XPU and Ascend are not supported here (PredictorError)."""
        if use_lite or use_xpu or use_ascend_cl:
            raise PredictorError("Paddle Lite, Kunlun XPU and Ascend are not supported by this "
                                 "runtime; use the CPU, GPU or TensorRT options")
        self.__init__(model_path, thread_num=thread_num,
                      device="trt" if use_trt else "gpu" if use_gpu else "cpu",
                      device_id=gpu_id, mem_optim=mem_optim, ir_optim=ir_optim,
                      precision=precision, use_calib=use_calib, use_mkldnn=use_mkldnn,
                      mkldnn_cache_capacity=mkldnn_cache_capacity, mkldnn_op_list=mkldnn_op_list,
                      mkldnn_bf16_op_list=mkldnn_bf16_op_list,
                      min_subgraph_size=min_subgraph_size,
                      dynamic_shape_info=dynamic_shape_info or None, use_profile=use_profile)

    @classmethod
    def from_local_service_conf(cls, local_conf: dict[str, Any], device: str = "cpu",
                                device_id: int = 0,
                                dynamic_shape_info: dict[str, dict[str, list[int]]] | None = None,
                                ) -> LocalPredictor:
        """Build from a validated `local_service_conf` dict (missing keys take defaults).

        `device` is "cpu", "gpu" or "trt" (already derived from device_type/devices).
        YAML `min_input_shape`/`max_input_shape`/`opt_input_shape` are merged with the Op
        hook's `dynamic_shape_info`; the hook wins for an input named in both.
        """
        options = options_from_local_service_conf(local_conf, device, device_id,
                                                  dynamic_shape_info)
        return cls(local_conf["model_config"], **asdict(options))

    def _build_error(self, exc: BaseException, action: str = "could not be built") -> PredictorError:
        backend = self.options.backend
        hint = _MKLDNN_HINT if self.options.use_mkldnn and backend == "paddle" else (
            "check that the folder holds a Paddle inference model this Paddle version can read "
            "(paddle.jit.save / export_model.py output) and that the options suit the device"
            if backend == "paddle" else "set `backend: paddle` in local_service_conf")
        engine = "Paddle predictor" if backend == "paddle" else f"{backend} model"
        return PredictorError(
            f"{self.model_dir}: {engine} {action} (layout {self.model_files.kind}; "
            f"files: {list_dir(self.model_dir)}).\n{backend.capitalize()} said: "
            f"{_first_lines(exc)}\nHint: {hint}"
        )

    def _create_engine(self) -> Engine:
        try:
            return create_engine(self.model_files, self.options)
        except PredictorError as exc:
            if exc.__cause__ is None and str(self.model_dir) not in str(exc):
                raise PredictorError(f"{self.model_dir}: {exc}") from None
            raise
        except Exception as exc:
            raise self._build_error(exc) from exc

    def _load_vars(self) -> None:
        """Read the prototxt (or fall back to the model's names) and precompute feed maps."""
        engine = self._engine
        inputs = engine.inputs
        outputs = engine.outputs
        output_names = [t.name for t in outputs]
        conf_path = self.model_dir / "serving_server_conf.prototxt"
        if conf_path.is_file():
            try:
                conf = read_model_config(conf_path)
            except ModelConfigError as exc:
                raise PredictorError(str(exc)) from exc
            feed_by_name = {v.name: v for v in conf.feed_vars}
            fetch_conf = list(conf.fetch_vars)
        else:
            logger.warning("%s: no serving_server_conf.prototxt; using the model's own input and "
                           "output names as aliases", self.model_dir)
            feed_by_name, fetch_conf = {}, []
        # the prototxt's feed order (backends may list inputs in another order)
        rank = {name: i for i, name in enumerate(feed_by_name)}
        inputs = sorted(inputs, key=lambda t: rank.get(t.name, len(rank)))
        feed_vars: list[VarInfo] = []
        for t in inputs:
            var = feed_by_name.get(t.name)
            if var is None:
                var = VarInfo(t.name, t.name, DTYPE_TO_CODE.get(t.dtype, 1), (), False)
            feed_vars.append(var)
        # every name a backend accepts for an output -> the engine's name for it
        self._engine_name = {n: t.name for t in outputs for n in (t.name, *t.aliases)}
        if fetch_conf:
            fetch_vars = [v for v in fetch_conf if v.name in self._engine_name]
            unknown = [v.name for v in fetch_conf if v.name not in self._engine_name]
            if unknown:
                logger.warning("%s: fetch vars %s of serving_server_conf.prototxt are not model "
                               "outputs %s; ignored", self.model_dir, unknown, output_names)
        else:
            fetch_vars = [VarInfo(t.name, t.name, DTYPE_TO_CODE.get(t.dtype, 1), ())
                          for t in outputs]
        self._feed_vars = feed_vars
        self._fetch_vars = fetch_vars
        self._output_names = output_names
        self._input_info = {t.name: t for t in inputs}
        self._feeds = [
            _Feed(
                alias=v.alias_name, name=v.name, dtype=np.dtype(v.dtype),
                reshape=_list_shape(v, self._input_info.get(v.name)),
                lod_keys=(v.alias_name + ".lod", v.name + ".lod"),
            )
            for v in feed_vars
        ]
        self._feed_names = [v.alias_name for v in feed_vars]

    def _bind_fetch(self) -> None:
        """Map fetch keys (aliases and model names) to engine output names once."""
        self._fetch_by_key: dict[str, tuple[str, str]] = {}
        for n in self._output_names:  # model names work too, keyed by themselves
            self._fetch_by_key[n] = (n, n)
        for v in self._fetch_vars:
            self._fetch_by_key[v.alias_name] = (v.alias_name, self._engine_name[v.name])
        self._all_fetch = [self._fetch_by_key[v.alias_name] for v in self._fetch_vars]
        self._fetch_cache: dict[tuple[str, ...], list[tuple[str, str]]] = {}

    # ------------------------------------------------------------------ metadata

    @property
    def backend(self) -> str:
        """The backend that runs the model (after any probe fallback)."""
        return self.options.backend

    @property
    def releases_gil(self) -> bool:
        """Whether inference lets other Python threads run (OpenVINO, ONNX Runtime)."""
        return bool(self._engine.releases_gil)

    @property
    def max_batch_size(self) -> int | None:
        """The most rows one run takes (an ONNX conversion of multiclass_nms3 takes 1), or
        None: no limit known."""
        return getattr(self._engine, "max_batch_size", None)

    @property
    def memory_optim_enabled(self) -> bool:
        """Whether `enable_memory_optim()` is in effect (False where Paddle 3 rejected it)."""
        return bool(getattr(self._engine, "memory_optim", False))

    @property
    def feed_names(self) -> list[str]:
        """Feed alias names in the model's input order."""
        return list(self._feed_names)

    @property
    def output_names(self) -> list[str]:
        """The model's own output names (fetch keys too, besides the aliases)."""
        return list(self._output_names)

    @property
    def fetch_names(self) -> list[str]:
        """Fetch alias names (prototxt order)."""
        return [v.alias_name for v in self._fetch_vars]

    @property
    def program_input_shapes(self) -> dict[str, tuple[int, ...]]:
        """The input shapes the model program declares (-1: dynamic; (): unknown), by feed
        alias (a converter prototxt keeps only the fixed dims: see `warmup_check`)."""
        return {f.alias: tuple(getattr(self._input_info.get(f.name), "shape", ()) or ())
                for f in self._feeds}

    @property
    def program_output_shapes(self) -> dict[str, tuple[int, ...]]:
        """The output shapes the model program declares (-1: dynamic; (): unknown), by fetch
        alias: the rank and fixed dims a prototxt shape does not tell (see `warmup_check`)."""
        shapes = {t.name: tuple(t.shape) for t in self._engine.outputs}
        return {alias: shapes.get(name, ()) for alias, name in self._all_fetch}

    @property
    def feed_vars(self) -> list[VarInfo]:
        return list(self._feed_vars)

    @property
    def fetch_vars(self) -> list[VarInfo]:
        return list(self._fetch_vars)

    # ------------------------------------------------------------------ inference

    def _resolve_fetch(self, fetch: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
        key = tuple(fetch)
        cached = self._fetch_cache.get(key)
        if cached is not None:
            return cached
        found = [self._fetch_by_key[f] for f in key if f in self._fetch_by_key]
        missing = [f for f in key if f not in self._fetch_by_key]
        if not found and key:
            # Paddle Serving <= 0.6 models: match requested names to outputs by position.
            if len(key) > len(self._output_names):
                raise PredictorError(
                    f"{self.model_dir}: fetch {list(key)} matches no output; available: "
                    f"{self.fetch_names} (model outputs {self._output_names})"
                )
            logger.warning("%s: fetch %s matches no output name; matching by position to %s",
                           self.model_dir, list(key), self._output_names[: len(key)])
            found = [(f, n) for f, n in zip(key, self._output_names, strict=False)]
        elif missing:  # skipped, as Paddle Serving 0.9's LocalPredictor.predict does
            logger.warning("%s: fetch name(s) %s are no output; skipped (available: %s)",
                           self.model_dir, missing, self.fetch_names)
        self._fetch_cache[key] = found
        return found

    def predict(self, feed: dict[str, Any], fetch: list[str] | None = None, batch: bool = True,
                log_id: int = 0) -> dict[str, np.ndarray]:
        """Run the model on `feed` ({alias: array or list}) and return {alias: ndarray}.

        Inputs are cast to the prototxt dtype; lists are reshaped to [-1, *shape];
        `batch=False` adds a leading batch axis; `<alias>.lod` keys set the input LoD.
        `fetch` selects outputs by alias (None: all); LoD outputs also return
        `<alias>.lod` (int32).
        """
        if self._engine is None:
            raise PredictorError("LocalPredictor has no model: call load_model_config(path) first")
        arrays: dict[str, np.ndarray] = {}
        lods: dict[str, list[int]] = {}
        for f in self._feeds:
            value = feed.get(f.alias)
            if value is None:
                value = feed.get(f.name)
                if value is None:
                    raise PredictorError(
                        f"log_id {log_id}: missing feed {f.alias!r}; the model expects "
                        f"{self._feed_names} (got {sorted(feed)})"
                    )
            if isinstance(value, np.ndarray):
                arr = value if value.dtype == f.dtype else value.astype(f.dtype)
            else:
                arr = np.asarray(value, dtype=f.dtype)
                if f.reshape is not None and isinstance(value, list | tuple):
                    arr = arr.reshape((-1, *f.reshape) if batch else f.reshape)
            if not batch:
                arr = arr[np.newaxis]
            if not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr)
            arrays[f.name] = arr
            lod = feed.get(f.lod_keys[0])
            if lod is None:
                lod = feed.get(f.lod_keys[1])
            if lod is not None:
                lods[f.name] = [int(x) for x in lod]
        targets = self._all_fetch if fetch is None else self._resolve_fetch(fetch)
        try:
            results = self._engine.run(arrays, lods, [name for _, name in targets])
        except PredictorError:
            raise
        except Exception as exc:
            shapes = {f.alias: list(arrays[f.name].shape) for f in self._feeds}
            raise self._build_error(exc, f"failed to run (log_id {log_id}, input shapes "
                                         f"{shapes})") from exc
        out: dict[str, np.ndarray] = {}
        for alias, name in targets:
            arr, lod = results[name]
            out[alias] = arr
            if lod is not None:
                out[alias + ".lod"] = np.asarray(lod, dtype=np.int32)
        return out

    def clone(self) -> LocalPredictor:
        """A new predictor sharing this one's weights, for another thread."""
        twin = object.__new__(LocalPredictor)
        twin.__dict__.update(self.__dict__)
        twin._engine = self._engine.clone()
        twin._fetch_cache = {}
        return twin

    def warmup_feed(self, batch_size: int = 1) -> dict[str, np.ndarray] | None:
        """Dummy inputs of the model's real rank and dtype (None if a rank is unknown); see
        `warmup.warmup_feed`."""
        return warmup_feed(self, batch_size)

    def warmup(self, batch_size: int = 1) -> bool:
        """Run one inference on `warmup_feed` inputs; False (nothing run) if a rank is unknown."""
        return warmup(self, batch_size)

    def __repr__(self) -> str:
        return (f"LocalPredictor({str(self.model_dir)!r}, kind={self.model_files.kind}, "
                f"backend={self.backend}, device={self.options.device}, "
                f"feed={self._feed_names}, fetch={self.fetch_names})")
