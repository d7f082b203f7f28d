"""Load `.pdparams` weights with strict checking (no downloads)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from generator.export.errors import WeightsError

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_SHOW = 20


def resolve_weights_path(weights: str | Path, base_dir: Path | None = None) -> Path:
    """Resolve a weights path (relative paths against `base_dir`, then the cwd).

    A URL raises WeightsError (nothing is downloaded); so does a missing file.
    `.pdparams` may be left out, as PaddleDetection allows (`weights: output/model_final`).
    """
    text = str(weights)
    if _URL.match(text):
        name = text.rstrip("/").rsplit("/", 1)[-1] or "model.pdparams"
        raise WeightsError(
            f"weights {text!r} is a URL; scaffold does not download anything. Download it "
            f"first (e.g. `wget {text}`) and pass the local path: -o weights=./{name}"
        )
    path = Path(text).expanduser()
    candidates = [path] if path.is_absolute() else (
        [base_dir / path] if base_dir is not None else []) + [Path.cwd() / path]
    for cand in list(candidates):
        if cand.suffix != ".pdparams":
            candidates.append(cand.with_name(cand.name + ".pdparams"))
    for cand in candidates:
        if cand.is_file():
            return cand
    raise WeightsError(
        f"weights file {text!r} not found (looked at {', '.join(str(c) for c in candidates)}); "
        "pass an existing .pdparams path"
    )


def load_weights(layer: Any, path: str | Path) -> dict[str, Any]:
    """Load a `.pdparams` state dict into `layer`, requiring an exact match.

    Missing keys, unexpected keys and wrongly shaped keys are all listed in one WeightsError.
    Returns the loaded state dict.
    """
    import paddle

    p = Path(path)
    try:
        state = paddle.load(str(p))
    except Exception as exc:  # paddle raises many types for unreadable files
        raise WeightsError(f"{p}: cannot read weights ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{p}: expected a state dict (name -> tensor), got {type(state).__name__}")
    expected = layer.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = []
    for key, param in expected.items():
        if key in state:
            got = list(getattr(state[key], "shape", []))
            want = list(param.shape)
            if got != want:
                wrong.append(f"{key}: file {got} vs model {want}")
    if missing or unexpected or wrong:
        lines = [f"{p}: weights do not match the model "
                 f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} wrong shape)"]
        for title, items in (("missing in the file", missing), ("unexpected in the file", unexpected),
                             ("wrong shape", wrong)):
            if items:
                shown = items[:_SHOW]
                more = f" ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
                lines.append(f"  {title}: " + ", ".join(shown) + more)
        lines.append("  check that the config (architecture, num_classes, args) matches the "
                     "training config of these weights")
        raise WeightsError("\n".join(lines))
    layer.set_state_dict(state)
    return state
