"""Paddle 3 toolkit exports: a folder with `inference.json` (PIR) + `inference.pdiparams` +
`inference.yml`, written by PaddleOCR 3, PaddleClas (`Global.export_for_fd`), PaddleDetection
(`--for_fd`), PaddleSeg (`--for_fd`) and read by PaddleX.

    export = read_toolkit_export(model_dir)     # ToolkitExport(kind, model_name, ...)
    export.kind                                 # one of KINDS

The kind comes from `Global.model_name` and `PostProcess`; an unknown kind is a
`ToolkitExportError` naming both and the supported kinds.
"""

from generator.toolkit.inference_yml import (
    KINDS,
    TRAINING_ONLY_OPS,
    ToolkitExport,
    ToolkitExportError,
    classify_inference_yml,
    find_inference_yml,
    read_toolkit_export,
)

__all__ = [
    "KINDS",
    "TRAINING_ONLY_OPS",
    "ToolkitExport",
    "ToolkitExportError",
    "classify_inference_yml",
    "find_inference_yml",
    "read_toolkit_export",
]
