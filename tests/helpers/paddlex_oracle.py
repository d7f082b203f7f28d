"""PaddleX 3.7.2 as a test oracle, in a side venv (never a product dependency).

The venv is `<repo>/.cache/paddlex-venv` (gitignored), built once from PyPI with `PINS` and
marked complete by a stamp file; `make paddlex-oracle` (run by `.ci/run` before `make test`)
builds it, and the `paddlex_oracle` fixture builds it when missing or skips with the reason
(no network, failed install). The same build adds the serving extra (`SERVING_PINS`, its own
stamp, no rebuild) for `paddlex --serve` (tests/helpers/paddlex_serve.py). Predictions run `tests/helpers/paddlex_predict.py` in that venv in
a subprocess; at run time nothing may reach the network: model-source checks are off, the
PaddleX cache is a temporary folder and HTTP(S) goes to an unreachable proxy, so any download
attempt fails loudly instead of silently fetching.

    python -m tests.helpers.paddlex_oracle build     # build the venv (idempotent)

    oracle = PaddleXOracle.get()                     # None if it cannot be built
    [res] = oracle.predict("PP-OCRv5_mobile_rec", rec_dir, [img_path])
    res["rec_text"], res["rec_score"]
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("PADDLEX_ORACLE_VENV", REPO_ROOT / ".cache" / "paddlex-venv"))
PINS = ("paddlex[ocr-core]==3.7.2", "paddlepaddle==3.3.1")
STAMP = VENV / ".oracle-installed"
#: `paddlex --serve` for the PaddleX-API tests and benchmarks/peers.py: the serving extra and
#: the `cv` one its object-detection/classification/segmentation pipelines require
SERVING_PINS = ("paddlex[ocr-core,serving,cv]==3.7.2", "paddlepaddle==3.3.1")
SERVING_STAMP = VENV / ".serving-installed"
SCRIPT = Path(__file__).with_name("paddlex_predict.py")
BUILD_TIMEOUT = 1800.0
#: a build started by a test fixture must end within pytest's per-test limit (600 s in make test)
FIXTURE_BUILD_TIMEOUT = 540.0
PREDICT_TIMEOUT = 600.0


class OracleUnavailable(RuntimeError):
    """The PaddleX side venv cannot be built here (the reason is the message)."""


def _python() -> Path:
    return VENV / "bin" / "python"


def _stamp_text() -> str:
    return "\n".join(PINS) + "\n"


def is_built() -> bool:
    return _python().exists() and STAMP.exists() and STAMP.read_text() == _stamp_text()


def serving_installed() -> bool:
    """The serving extra (`paddlex --serve`) is in the built venv."""
    return is_built() and SERVING_STAMP.exists() and \
        SERVING_STAMP.read_text() == "\n".join(SERVING_PINS) + "\n"


def build_venv(timeout: float = BUILD_TIMEOUT, log=None) -> Path:
    """Build the side venv once (a file lock keeps concurrent builders out), then add the
    serving extra to it (without rebuilding the venv); returns its python. Raises
    OracleUnavailable with pip's last lines when the venv cannot be built (a failed serving
    step only leaves `serving_installed()` false)."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "paddlex-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        if not is_built():
            _run_steps([[sys.executable, "-m", "venv", "--clear", str(VENV)],
                        [str(_python()), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                        [str(_python()), "-m", "pip", "install", "--quiet", *PINS]],
                       timeout, started)
            STAMP.write_text(_stamp_text())
        if not serving_installed():
            try:
                _run_steps([[str(_python()), "-m", "pip", "install", "--quiet",
                             *SERVING_PINS]], timeout, started)
            except OracleUnavailable as e:
                if log is not None:
                    print(f"[paddlex-oracle] no serving extra: {e}", file=log)
            else:
                SERVING_STAMP.write_text("\n".join(SERVING_PINS) + "\n")
        if log is not None:
            print(f"[paddlex-oracle] {VENV} ready in {time.monotonic() - started:.0f}s",
                  file=log)
        return _python()


def _run_steps(steps: list[list[str]], timeout: float, started: float) -> None:
    for cmd in steps:
        left = timeout - (time.monotonic() - started)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(left, 1))
        except subprocess.TimeoutExpired as e:
            raise OracleUnavailable(f"building the PaddleX venv timed out ({timeout:.0f}s) "
                                    f"at: {' '.join(cmd[:4])}") from e
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            raise OracleUnavailable(
                f"cannot build the PaddleX venv ({' '.join(PINS)}): {' '.join(cmd[:4])} "
                f"failed (rc {proc.returncode}):\n" + "\n".join(tail))


def oracle_env(cache_dir: Path) -> dict[str, str]:
    """The environment of a PaddleX run: offline, quiet, this repo NOT importable."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.lower().endswith("_proxy")}
    unreachable = "http://127.0.0.1:9"
    env.update({
        "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK": "True",
        "PADDLE_PDX_CACHE_HOME": str(cache_dir),
        "HF_HUB_OFFLINE": "1",
        "http_proxy": unreachable, "https_proxy": unreachable,
        "HTTP_PROXY": unreachable, "HTTPS_PROXY": unreachable,
        "no_proxy": "", "NO_PROXY": "",
        "GLOG_minloglevel": "2",
        "PADDLE_PDX_CPU_NUM_THREADS": "2",
        "OMP_NUM_THREADS": "2",
    })
    return env


class PaddleXOracle:
    """Runs PaddleX predictions in the side venv (one subprocess per `run` call)."""

    _instance: PaddleXOracle | None = None
    _error: str | None = None

    def __init__(self, python: Path) -> None:
        self.python = python

    @classmethod
    def get(cls, build: bool = True) -> PaddleXOracle | None:
        """The oracle, building the venv if `build`; None (see `unavailable_reason`) if not."""
        if cls._instance is None and cls._error is None:
            try:
                if is_built():
                    cls._instance = cls(_python())
                elif build:
                    cls._instance = cls(build_venv(FIXTURE_BUILD_TIMEOUT))
                else:
                    cls._error = f"the PaddleX venv {VENV} is not built (make paddlex-oracle)"
            except OracleUnavailable as e:
                cls._error = str(e)
        return cls._instance

    @classmethod
    def unavailable_reason(cls) -> str:
        return cls._error or ""

    def run(self, tasks: list[dict[str, Any]], timeout: float = PREDICT_TIMEOUT) -> list[list[dict]]:
        """Run several tasks in one subprocess (one PaddleX start-up); see paddlex_predict.py."""
        with tempfile.TemporaryDirectory(prefix="paddlex-oracle-") as tmp:
            job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
            job.write_text(json.dumps({"tasks": tasks}), encoding="utf-8")
            proc = subprocess.run([str(self.python), str(SCRIPT), str(job), str(out)],
                                  capture_output=True, text=True, timeout=timeout,
                                  env=oracle_env(Path(tmp) / "pdx-cache"), cwd=tmp)
            if proc.returncode != 0 or not out.exists():
                raise RuntimeError(f"PaddleX prediction failed (rc {proc.returncode}):\n"
                                   f"{(proc.stderr or proc.stdout)[-4000:]}")
            return json.loads(out.read_text(encoding="utf-8"))["results"]

    def predict(self, model_name: str, model_dir: str | Path, images: Sequence[str | Path],
                **predict_kwargs: Any) -> list[dict[str, Any]]:
        """`paddlex.create_model(model_name, model_dir).predict(img)` for each image."""
        return self.run([model_task(model_name, model_dir, images, **predict_kwargs)])[0]

    def ocr(self, det: tuple[str, str | Path], rec: tuple[str, str | Path],
            images: Sequence[str | Path], ori: tuple[str, str | Path] | None = None,
            **det_params: Any) -> list[dict[str, Any]]:
        """PaddleX's OCR pipeline on local model folders (no doc preprocessor)."""
        return self.run([ocr_task(det, rec, images, ori, **det_params)])[0]


def model_task(model_name: str, model_dir: str | Path, images: Sequence[str | Path],
               **predict_kwargs: Any) -> dict[str, Any]:
    return {"model_name": model_name, "model_dir": str(model_dir),
            "images": [str(p) for p in images], "predict_kwargs": predict_kwargs}


def ocr_task(det: tuple[str, str | Path], rec: tuple[str, str | Path],
             images: Sequence[str | Path], ori: tuple[str, str | Path] | None = None,
             **det_params: Any) -> dict[str, Any]:
    def pair(p: tuple[str, str | Path] | None) -> list[str] | None:
        return None if p is None else [p[0], str(p[1])]

    return {"pipeline": "OCR", "det": pair(det), "rec": pair(rec), "ori": pair(ori),
            "images": [str(p) for p in images], "det_params": det_params}


def main(argv: list[str]) -> int:
    if argv[:1] != ["build"]:
        print("usage: python -m tests.helpers.paddlex_oracle build", file=sys.stderr)
        return 2
    try:
        build_venv(log=sys.stderr)
    except OracleUnavailable as e:
        print(f"[paddlex-oracle] {e}\n[paddlex-oracle] the PaddleX parity tests will be skipped",
              file=sys.stderr)
        return 1
    print(f"[paddlex-oracle] ready: {_python()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
