"""Run PaddleDetection's own `tools/export_model.py` (from a checkout) in a subprocess.

For architectures scaffold does not rebuild itself: `scaffold new --ppdet-root PATH` exports with
PaddleDetection and continues from the exported directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .errors import ExporterError

_MODEL_FILES = ("model.json", "model.pdmodel", "inference.json", "inference.pdmodel")


def _cuda_available() -> bool:
    try:
        import paddle

        return bool(paddle.device.is_compiled_with_cuda()) and paddle.device.cuda.device_count() > 0
    except Exception:  # noqa: BLE001 - no usable paddle means no GPU for the child either
        return False


def _exported_dir(output_dir: Path, name: str) -> Path | None:
    for cand in (output_dir / name, output_dir):
        if any((cand / f).is_file() for f in _MODEL_FILES) and (
            (cand / "infer_cfg.yml").is_file() or (cand / "inference.yml").is_file()
        ):
            return cand
    return None


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_ppdet_exporter(
    ppdet_root: Path,
    config: Path,
    overrides: list[str],
    output_dir: Path,
    *,
    use_gpu: bool | None = None,
    timeout: float = 1800.0,
    python: str | None = None,
) -> Path:
    """Export `config` with `<ppdet_root>/tools/export_model.py`; return the exported model dir.

    The child runs in `ppdet_root` (PaddleDetection's relative dataset paths), with
    `-o <overrides> [use_gpu=false]` (added when no GPU is usable, or `use_gpu=False`) and
    `--output_dir output_dir`. Raises `ExporterError` when the script is missing, exits non-zero
    (with its stderr tail), times out, or writes no model.
    """
    root = Path(ppdet_root).expanduser().resolve()
    script = root / "tools" / "export_model.py"
    if not script.is_file():
        raise ExporterError(
            f"{script} not found: --ppdet-root must point to a PaddleDetection checkout "
            "(the directory holding tools/ and ppdet/), e.g. git clone "
            "https://github.com/PaddlePaddle/PaddleDetection"
        )
    cfg = Path(config).expanduser().resolve()
    if not cfg.is_file():
        raise ExporterError(f"config {cfg} not found")
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    opts = list(overrides)
    if use_gpu is None:
        use_gpu = _cuda_available()
    if not use_gpu:
        opts = [o for o in opts if not o.strip().startswith("use_gpu=")] + ["use_gpu=false"]
    cmd = [python or sys.executable, str(script), "-c", str(cfg)]
    if opts:
        cmd += ["-o", *opts]
    cmd += ["--output_dir", str(out)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.run(
            cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ExporterError(
            f"PaddleDetection's exporter did not finish in {timeout:.0f} s: {' '.join(cmd)}"
        ) from exc
    if proc.returncode != 0:
        raise ExporterError(
            f"PaddleDetection's exporter failed (exit code {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stderr (last lines) ---\n{_tail(proc.stderr or proc.stdout)}"
        )
    exported = _exported_dir(out, cfg.stem)
    if exported is None:
        found = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())[:20]
        raise ExporterError(
            f"PaddleDetection's exporter exited 0 but wrote no model under {out} (expected "
            f"{out / cfg.stem}/infer_cfg.yml and model.json or model.pdmodel); found: "
            f"{found or 'nothing'}\n--- output (last lines) ---\n"
            f"{_tail(proc.stderr + proc.stdout)}"
        )
    return exported
