"""What `scaffold new` is asked for (`NewServiceRequest`), what it decides before writing
anything (`ServicePlan`) and what it made (`ServiceResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.scaffold.ownership import ReplacePlan
from generator.scaffold.settings import ServiceSettings

OP_CLASSES = {"detection": "DetectionOp", "classification": "ClassificationOp",
              "segmentation": "SegmentationOp", "embedding": "EmbeddingOp",
              "text_detection": "TextDetectionOp", "text_recognition": "TextRecognitionOp",
              "textline_orientation": "TextlineOrientationOp"}


MODEL_FILES = ("serving_server/", "serving_client/")


PRESTOP_SLEEP_S = 5


CONTAINER_UID = 10001  # the non-root user of the generated image and Deployment


@dataclass
class NewServiceRequest:
    """The inputs of `scaffold new` (CLI options; None means "not given")."""

    config: Path | None = None
    model_dir: Path | None = None
    overrides: list[str] = field(default_factory=list)
    output: Path | None = None
    name: str | None = None
    device: str | None = None
    trt: str | None = None
    http_port: int | None = None
    rpc_port: int | None = None
    overwrite: bool = False
    verify: bool = False
    ppdet_root: Path | None = None
    vendor: bool = True  # this package's wheel in vendor/ (False: --no-vendor)
    force: bool = False  # with overwrite: also replace files the user changed
    update: bool = False  # regenerate only when the inputs changed (keeps an up-to-date folder)
    host: str | None = None
    image: str | None = None
    strict_overrides: bool = False  # unknown -o keys of PaddleDetection configs are errors
    warnings: list[str] = field(default_factory=list)  # found while planning
    backend: str | None = None  # None/"auto": the fastest with Paddle's outputs (backend_choice)
    sweep: bool = True  # measure instances x threads x batch size served (serving_sweep)
    #: several --model-dir: the toolkit exports of a two-stage OCR service (ocr_service)
    model_dirs: list[Path] = field(default_factory=list)


@dataclass
class ServicePlan:
    """Everything decided before writing: validated settings, names, files."""

    request: NewServiceRequest
    name: str
    title: str
    task: str
    output: Path
    settings: ServiceSettings
    config: dict[str, Any] | None
    deploy_record: Path | None  # --model-dir: the source's deploy record (None: from config)
    random_weights: bool
    weights_hint: str
    files: list[str]
    notes: list[str] = field(default_factory=list)
    backend: Any = None  # the BackendChoice made while building
    sweep: Any = None  # the serving_sweep.SweepResult made while building (request.sweep)
    sweep_warning: str = ""  # why the sweep could not measure (config.yml keeps the defaults)
    sweep_note: str = ""  # why the sweep was not run (a heavy model)
    replace: ReplacePlan | None = None  # the existing generated folder --overwrite replaces
    kept: list[str] = field(default_factory=list)  # the user's files carried over
    up_to_date: bool = False  # --update: the folder was generated from these same inputs
    inputs_hash: str = ""

    @property
    def source_desc(self) -> str:
        r = self.request
        if r.model_dir is not None:
            return f"the exported model {r.model_dir.name}"
        assert r.config is not None
        return f"the config {r.config.name}"


@dataclass
class ServiceResult:
    """A generated service folder."""

    output: Path
    files: list[str]
    plan: ServicePlan
