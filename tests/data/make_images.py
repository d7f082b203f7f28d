"""Regenerate the small synthetic test images of this folder (no downloads):

    python tests/data/make_images.py

`shapes_320x240.png` (lossless) and `shapes_320x240.jpg` (quality 90): a 320x240 (w x h) RGB
scene of simple shapes on a gradient, deterministic."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 320, 240


def draw_scene() -> np.ndarray:
    """The scene as a BGR uint8 array (OpenCV order)."""
    x = np.linspace(0, 1, WIDTH, dtype=np.float64)[None, :]
    y = np.linspace(0, 1, HEIGHT, dtype=np.float64)[:, None]
    img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    img[..., 0] = np.round(60 + 120 * y * np.ones_like(x)).astype(np.uint8)  # blue rises down
    img[..., 1] = np.round(90 + 60 * x * np.ones_like(y)).astype(np.uint8)  # green rises right
    img[..., 2] = 70
    cv2.rectangle(img, (30, 40), (130, 150), (0, 0, 220), thickness=-1)  # red box
    cv2.circle(img, (220, 90), 50, (0, 200, 0), thickness=-1)  # green disc
    pts = np.array([[170, 220], [300, 220], [235, 150]], dtype=np.int32)
    cv2.fillPoly(img, [pts], (230, 160, 20))  # blue-ish triangle
    cv2.putText(img, "PADDLE", (20, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2,
                cv2.LINE_8)
    return img


def main() -> None:
    img = draw_scene()
    cv2.imwrite(str(HERE / "shapes_320x240.png"), img)
    cv2.imwrite(str(HERE / "shapes_320x240.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


if __name__ == "__main__":
    main()
