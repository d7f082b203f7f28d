"""Model builders: what an architecture or factory gives the exporter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BuiltModel:
    """A dynamic-graph model ready for export.

    Attributes:
        layer: the `paddle.nn.Layer` (put in eval mode by the exporter).
        input_spec: the list given to `paddle.jit.to_static(input_spec=...)` (InputSpec objects,
            possibly nested in lists/dicts, and plain Python values for non-tensor arguments).
        method: name of the method to export (`forward` by default).
        infer_cfg: the `infer_cfg.yml` content to write next to the model (ordered dict), or None.
        label_list: class names, if the model has them.
        task: `detection`, `classification`, `segmentation`, `embedding` or `generic`.
        fixed_input_shape_target: name of the image input that `--fixed_input_shape` changes.
        sample_inputs: optional callable returning `{input_name: ndarray}` for parity checks.
    """

    layer: Any
    input_spec: list[Any]
    method: str = "forward"
    infer_cfg: dict[str, Any] | None = None
    label_list: list[str] = field(default_factory=list)
    task: str = "generic"
    fixed_input_shape_target: str | None = None
    sample_inputs: Callable[[], dict[str, Any]] | None = None


#: architecture name -> builder(model_section: dict, config: dict) -> BuiltModel
ARCHITECTURES: dict[str, Callable[[dict[str, Any], dict[str, Any]], BuiltModel]] = {}


def register_architecture(name: str):
    """Decorator registering a built-in architecture builder under `name`."""

    def deco(fn):
        ARCHITECTURES[name] = fn
        return fn

    return deco
