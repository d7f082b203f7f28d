"""Paths used by the PaddleDetection tests (a uniquely named helper, importable from tests)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ppdet"
SHARED = ROOT.parent / "shared"
SHARED_PPDET = SHARED / "data" / "ppdet"
SHARED_CONFIGS = SHARED_PPDET / "configs" / "yolov3"
