"""Reading and classifying a Paddle 3 toolkit export's `inference.yml`.

Layouts (as the exporters write them):
- PaddleOCR 3 (`ppocr/utils/export_model.py`): `Global.model_name`, `PreProcess.transform_ops`
  (the eval transforms, training-only ones included: `DecodeImage`, `DetLabelEncode`,
  `MultiLabelEncode`, `KeepKeys`, ...), `PostProcess: {name: DBPostProcess | CTCLabelDecode,
  ...params}` (`character_dict` for recognition);
- PaddleClas (`export_for_fd`): `PreProcess.transform_ops`, `PostProcess: {Topk: {topk,
  label_list}}` (the text-line orientation models are PaddleClas exports);
- PaddleDetection (`--for_fd`): `Preprocess` list of `{type: ...}`, `label_list`, `arch`...;
- PaddleSeg (`--for_fd`): `Deploy: {transforms, ...}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.yaml_file import read_yaml_mapping

#: kinds of model a toolkit export can be, with what identifies each
KINDS: dict[str, str] = {
    "text_detection": "PaddleOCR DB text detection (PostProcess.name DBPostProcess; "
                      "PP-OCRv5/v4 mobile/server det)",
    "text_recognition": "PaddleOCR CTC text recognition (PostProcess.name CTCLabelDecode; "
                        "PP-OCRv5/v4 mobile/server rec)",
    "textline_orientation": "text-line orientation classifier (PP-LCNet_x0_25_textline_ori, "
                            "PP-LCNet_x1_0_textline_ori)",
    "detection": "PaddleDetection object detection (top-level Preprocess; PicoDet, PP-YOLOE+, "
                 "YOLOv3, ...)",
    "classification": "PaddleClas image classification (PostProcess.Topk)",
    "embedding": "PaddleClas feature extraction (PostProcess.NormalizeFeatures)",
    "segmentation": "PaddleSeg semantic segmentation (Deploy section)",
}

#: PreProcess entries that only prepare training labels or pick training keys: ignored
TRAINING_ONLY_OPS = frozenset({
    "DetLabelEncode", "MultiLabelEncode", "CTCLabelEncode", "AttnLabelEncode", "NRTRLabelEncode",
    "SARLabelEncode", "KeepKeys", "RecConAug", "RecAug", "CopyPaste", "IaaAugment",
    "EastRandomCropData", "MakeBorderMap", "MakeShrinkMap", "ClsLabelEncode", "BaseDataAugmentation",
    "SVTRRecAug", "RandomCropImgMask", "DetResizeForTrain", "VQATokenLabelEncode",
})

#: text-line orientation models (PaddleClas exports read by PaddleX's textline orientation
#: predictor)
TEXTLINE_ORI_MODELS = frozenset({"PP-LCNet_x0_25_textline_ori", "PP-LCNet_x1_0_textline_ori"})

#: PaddleDetection architectures whose outputs are not [N, 6] boxes (keypoints, tracking,
#: lanes, rotated boxes): exported with the same Preprocess layout but not served here
NON_BOX_ARCHS = frozenset({
    "HRNet", "HigherHRNet", "METRO_Body", "DeepSORT", "JDE", "FairMOT", "ByteTrack",
    "CenterTrack", "CLRNet", "S2ANet",
})

_FILE = "inference.yml"


class ToolkitExportError(ValueError):
    """A toolkit export folder or its inference.yml cannot be served."""


@dataclass(frozen=True)
class ToolkitExport:
    """One toolkit export: its kind and the parts of inference.yml that inference uses."""

    kind: str  # one of KINDS
    model_name: str  # Global.model_name ("" when absent)
    source: Path  # the inference.yml
    preprocess: list[dict[str, Any]] = field(default_factory=list)  # [{OpName: params}]
    postprocess: dict[str, Any] = field(default_factory=dict)
    ignored_ops: list[str] = field(default_factory=list)  # training-only entries dropped
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole yml

    @property
    def model_dir(self) -> Path:
        return self.source.parent

    def op(self, name: str) -> dict[str, Any] | None:
        """Parameters of the first PreProcess op called `name` (None when absent)."""
        for spec in self.preprocess:
            if name in spec:
                return dict(spec[name] or {})
        return None


def find_inference_yml(model_dir: str | Path) -> Path:
    """`model_dir/inference.yml`, or a clear error."""
    path = Path(model_dir) / _FILE
    if not path.is_file():
        raise ToolkitExportError(
            f"{model_dir}: no {_FILE}; a Paddle 3 toolkit export folder holds inference.json + "
            f"inference.pdiparams + {_FILE} (PaddleOCR 3 tools/export_model.py writes it; "
            "PaddleClas needs -o Global.export_for_fd=True, PaddleDetection --for_fd)")
    return path


def _load(path: Path) -> dict[str, Any]:
    return read_yaml_mapping(path, ToolkitExportError)


def _op_list(ops: Any, path: Path) -> list[dict[str, Any]]:
    """`transform_ops` -> [{OpName: params}] (a bare name becomes {name: {}})."""
    if ops is None:
        return []
    if not isinstance(ops, list):
        raise ToolkitExportError(f"{path}: PreProcess.transform_ops must be a list, got "
                                 f"{type(ops).__name__}")
    out = []
    for index, spec in enumerate(ops):
        if isinstance(spec, str):
            out.append({spec: {}})
        elif isinstance(spec, Mapping) and len(spec) == 1:
            (name, params), = spec.items()
            if params is not None and not isinstance(params, Mapping):
                raise ToolkitExportError(f"{path}: PreProcess.transform_ops #{index} {name}: "
                                         f"parameters must be a mapping, got {params!r}")
            out.append({str(name): dict(params or {})})
        else:
            raise ToolkitExportError(f"{path}: PreProcess.transform_ops #{index} must be a "
                                     f"single-key {{OpName: params}} mapping, got {spec!r}")
    return out


_OTHERWISE = ("; for another model, describe its pre- and post-processing in a native config "
              "(serving_configs/*.yml) and pass --model-dir DIR --config CONFIG.yml")


def _unknown(path: Path, model_name: str, post: Any) -> ToolkitExportError:
    kinds = "; ".join(f"{k}: {v}" for k, v in KINDS.items())
    return ToolkitExportError(
        f"{path}: unknown kind of model: Global.model_name {model_name or '(none)'!r}, "
        f"PostProcess {_describe_post(post)}; supported kinds: {kinds}{_OTHERWISE}")


def _describe_post(post: Any) -> str:
    if isinstance(post, Mapping):
        if "name" in post:
            return repr(str(post["name"]))
        return repr(sorted(str(k) for k in post)) if post else "(empty)"
    return "(none)" if post is None else repr(post)


def _is_topk(post: Mapping[str, Any], name: str) -> bool:
    """PaddleClas' top-k: `{Topk: {topk, label_list}}` (export_for_fd) or `{name: Topk, ...}`
    (the training config's form)."""
    return name == "Topk" or ("Topk" in post and not name)


def classify_inference_yml(data: Mapping[str, Any], path: Path) -> ToolkitExport:
    """The `ToolkitExport` an inference.yml mapping describes, or `ToolkitExportError`."""
    model_name = str((data.get("Global") or {}).get("model_name") or "")
    if "Deploy" in data:
        return ToolkitExport("segmentation", model_name, path, data=dict(data))
    if "Preprocess" in data:
        arch = str(data.get("arch") or "")
        if arch in NON_BOX_ARCHS or data.get("tracker"):
            kinds = "; ".join(f"{k}: {v}" for k, v in KINDS.items())
            raise ToolkitExportError(
                f"{path}: unsupported kind of PaddleDetection model: arch {arch!r}"
                f"{' (a tracker)' if data.get('tracker') else ''}, Global.model_name "
                f"{model_name or '(none)'!r} gives no [N, 6] boxes; supported kinds: {kinds}"
                f"{_OTHERWISE}")
        return ToolkitExport("detection", model_name, path, data=dict(data))
    pre = data.get("PreProcess")
    post = data.get("PostProcess")
    if pre is None:
        raise _unknown(path, model_name, post)
    if not isinstance(pre, Mapping):
        raise ToolkitExportError(f"{path}: PreProcess must be a mapping with transform_ops")
    ops = _op_list(pre.get("transform_ops"), path)
    ignored = [next(iter(op)) for op in ops if next(iter(op)) in TRAINING_ONLY_OPS]
    ops = [op for op in ops if next(iter(op)) not in TRAINING_ONLY_OPS]
    post_map = dict(post) if isinstance(post, Mapping) else {}
    post_name = str(post_map.get("name", ""))
    if post_name == "DBPostProcess":
        kind = "text_detection"
    elif post_name == "CTCLabelDecode":
        kind = "text_recognition"
        if not post_map.get("character_dict"):
            raise ToolkitExportError(
                f"{path}: PostProcess CTCLabelDecode has no character_dict; PaddleOCR 3's "
                "exporter writes the dictionary into inference.yml — re-export the model")
    elif _is_topk(post_map, post_name) and model_name in TEXTLINE_ORI_MODELS:
        kind = "textline_orientation"
    elif _is_topk(post_map, post_name):
        kind = "classification"
    elif "NormalizeFeatures" in post_map and not post_name:
        kind = "embedding"
    else:
        raise _unknown(path, model_name, post)
    return ToolkitExport(kind, model_name, path, ops, post_map, ignored, dict(data))


def read_toolkit_export(model_dir_or_yml: str | Path) -> ToolkitExport:
    """Read a toolkit export folder (or its inference.yml) and classify it."""
    p = Path(model_dir_or_yml)
    path = p if p.is_file() else find_inference_yml(p)
    return classify_inference_yml(_load(path), path)
