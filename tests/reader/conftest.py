from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def png_path() -> Path:
    return DATA / "shapes_320x240.png"


@pytest.fixture
def bgr_image(png_path: Path) -> np.ndarray:
    img = cv2.imread(str(png_path), cv2.IMREAD_COLOR)
    assert img is not None
    return img
