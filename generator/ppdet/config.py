"""PaddleDetection config loading without PaddleDetection installed.

Rules (those of `ppdet.core.workspace.load_config` and `tools/export_model.py -o`):

* `_BASE_` lists files relative to the including file (`~` expanded, absolute paths allowed),
  loaded recursively and merged left to right; the file's own keys are merged last.
  Merging is recursive for dicts; lists and scalars are replaced.
* `!Tag` constructors (`!PiecewiseDecay`, `!LinearWarmup`, ...) are tolerated: a tagged mapping
  becomes a dict with `_type_: Tag` plus its keys, a tagged sequence `{_type_: Tag, _args_: [...]}`,
  a tagged scalar `{_type_: Tag, _value_: v}`. YAML anchors and aliases work per file.
* `-o` overrides (`generator.ppdet.overrides`) are applied after `_BASE_` resolution.
* `cfg["filename"]` is the config's basename without extension (the exported model's name).
* `use_gpu` is read but ignored: everything here runs on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import PpdetConfigError
from .overrides import deep_merge, merge_overrides

BASE_KEY = "_BASE_"
TYPE_KEY = "_type_"


class _PpdetLoader(yaml.SafeLoader):
    """Safe YAML loader that turns unknown `!Tag`s into plain tagged dicts."""


def _construct_tagged(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    tag = tag_suffix.lstrip("!")
    if isinstance(node, yaml.MappingNode):
        data = loader.construct_mapping(node, deep=True)
        return {TYPE_KEY: tag, **data}
    if isinstance(node, yaml.SequenceNode):
        return {TYPE_KEY: tag, "_args_": loader.construct_sequence(node, deep=True)}
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return {TYPE_KEY: tag, "_value_": value}


def _construct_python(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):  # python/tuple, python/list
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_PpdetLoader.add_multi_constructor("!", _construct_tagged)
_PpdetLoader.add_multi_constructor("tag:yaml.org,2002:python/", _construct_python)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one PaddleDetection YAML file (tags tolerated); an empty file gives `{}`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PpdetConfigError(f"cannot read PaddleDetection config {path}: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_PpdetLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PpdetConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PpdetConfigError(
            f"{path} must hold a mapping at top level, not {type(data).__name__}"
        )
    return data


def _resolve_base(entry: Any, including: Path) -> Path:
    if not isinstance(entry, str) or not entry.strip():
        raise PpdetConfigError(f"{including}: `_BASE_` entries must be file paths, got {entry!r}")
    text = os.path.expanduser(entry.strip())
    base = Path(text)
    if not base.is_absolute():
        base = including.parent / base
    return base


def _load_with_base(path: Path, stack: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p) for p in (*stack, resolved))
        raise PpdetConfigError(f"`_BASE_` cycle: {chain}")
    if not path.is_file():
        where = f" (listed in `_BASE_` of {stack[-1]})" if stack else ""
        raise PpdetConfigError(f"PaddleDetection config {path} not found{where}")
    own = read_yaml(path)
    if BASE_KEY not in own:
        return own
    bases = own.pop(BASE_KEY)
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list):
        raise PpdetConfigError(f"{path}: `_BASE_` must be a list of paths, got {bases!r}")
    merged: dict[str, Any] = {}
    for entry in bases:
        base_cfg = _load_with_base(_resolve_base(entry, path), (*stack, resolved))
        deep_merge(merged, base_cfg)
    return deep_merge(merged, own)


def load_ppdet_config(
    path: str | Path, overrides: list[str] | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Load a PaddleDetection config: `_BASE_` chain, then `-o` overrides, then `filename`.

    Args:
        path: the config `.yml` (e.g. `configs/yolov3/yolov3_darknet53_270e_coco.yml`).
        overrides: `["key.sub=value", ...]` as given to `-o`, or an equivalent dict.

    Returns:
        The merged config as plain dicts/lists; `filename` is the basename without extension.
    """
    cfg_path = Path(path).expanduser()
    cfg = _load_with_base(cfg_path, ())
    cfg["filename"] = cfg_path.stem
    try:
        merge_overrides(cfg, overrides)
    except ValueError as exc:
        raise PpdetConfigError(str(exc)) from exc
    return cfg


def is_ppdet_config(data: Mapping[str, Any]) -> bool:
    """Whether a parsed YAML mapping looks like a PaddleDetection config (not our native one)."""
    if not isinstance(data, Mapping):
        return False
    if "version" in data and "model" in data:
        return False
    return BASE_KEY in data or "architecture" in data or "TestReader" in data


@dataclass(frozen=True)
class ExportOptions:
    """runtime.yml's `export:` block as `tools/export_model.py` reads it."""

    post_process: bool = True
    nms: bool = True
    benchmark: bool = False
    fuse_conv_bn: bool = False


def export_options(cfg: Mapping[str, Any]) -> ExportOptions:
    """`export:` block: each key defaults to False when the block exists, else True/True/False."""
    block = cfg.get("export")
    if not isinstance(block, Mapping):
        return ExportOptions()
    return ExportOptions(
        post_process=bool(block.get("post_process", False)),
        nms=bool(block.get("nms", False)),
        benchmark=bool(block.get("benchmark", False)),
        fuse_conv_bn=bool(block.get("fuse_conv_bn", False)),
    )


@dataclass(frozen=True)
class InputShapes:
    """Shapes of the exported inputs (None = any batch, -1 = dynamic size)."""

    image: list[int | None]
    im_shape: list[int | None]
    scale_factor: list[int | None]

    @property
    def dynamic(self) -> bool:
        """`use_dynamic_shape` of infer_cfg.yml: the image height is not fixed."""
        return self.image[2] == -1


def input_shapes(cfg: Mapping[str, Any]) -> InputShapes:
    """Input shapes from `TestReader.inputs_def.image_shape` (default `[None, 3, -1, -1]`)."""
    reader = cfg.get("TestReader") or {}
    inputs_def = reader.get("inputs_def") or {}
    shape = inputs_def.get("image_shape") if isinstance(inputs_def, Mapping) else None
    if shape is None:
        shape = [None, 3, -1, -1]
    if not isinstance(shape, list | tuple) or len(shape) not in (3, 4):
        raise PpdetConfigError(
            f"TestReader.inputs_def.image_shape must be [C, H, W] or [N, C, H, W], got {shape!r}"
        )
    shape = list(shape)
    batch: int | None = None
    if len(shape) == 3:
        shape = [None, *shape]
    else:
        batch = shape[0]
    opts = export_options(cfg)
    if opts.post_process and not opts.benchmark:
        shape[0] = None
    for dim in shape[1:]:
        if not isinstance(dim, int):
            raise PpdetConfigError(
                f"TestReader.inputs_def.image_shape has a non-integer size {dim!r}: {shape!r}"
            )
    return InputShapes(image=shape, im_shape=[batch, 2], scale_factor=[batch, 2])


def section(cfg: Mapping[str, Any], ref: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve an injected component like PaddleDetection's `create`.

    `ref` is a section name (`"YOLOBox"`) or a dict with `name:` whose other keys update that
    section. Returns `{"name": ..., **defaults, **cfg[name], **inline}`.
    """
    if isinstance(ref, Mapping):
        name = ref.get("name")
        inline = {k: v for k, v in ref.items() if k != "name"}
    else:
        name, inline = ref, {}
    if not isinstance(name, str) or not name:
        raise PpdetConfigError(f"cannot tell which component {ref!r} refers to (no name)")
    out: dict[str, Any] = dict(defaults)
    own = cfg.get(name)
    if isinstance(own, Mapping):
        out.update(own)
    out.update(inline)
    out["name"] = name
    return out
