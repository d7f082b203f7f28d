"""Sample inputs for verify and bench: the user's images, or generated ones."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def generated_images(count: int = 4, seed: int = 0) -> dict[str, bytes]:
    """`count` JPEG/PNG images of different sizes with random shapes and noise (deterministic)."""
    rng = np.random.default_rng(seed)
    sizes = [(240, 320), (480, 640), (300, 300), (360, 200), (128, 256), (512, 384)]
    images = {}
    for i in range(count):
        h, w = sizes[i % len(sizes)]
        img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        for _ in range(6):
            color = tuple(int(c) for c in rng.integers(40, 255, 3))
            x1, y1 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
            x2, y2 = int(rng.integers(x1 + 10, w)), int(rng.integers(y1 + 10, h))
            if rng.random() < 0.5:
                cv2.rectangle(img, (x1, y1), (x2, y2), color, -1)
            else:
                cv2.circle(img, ((x1 + x2) // 2, (y1 + y2) // 2), max(5, (x2 - x1) // 3), color, -1)
        ext = ".jpg" if i % 2 == 0 else ".png"
        ok, buf = cv2.imencode(ext, img)
        if not ok:  # pragma: no cover - encoding a valid array does not fail
            raise RuntimeError("cannot encode a generated image")
        images[f"generated_{i}{ext}"] = buf.tobytes()
    return images


def text_page(lines: int = 8, seed: int = 0) -> bytes:
    """A 640x480 PNG page of `lines` printed text lines (OpenCV's Hershey font; deterministic):
    the sample of an OCR service's serving sweep."""
    rng = np.random.default_rng(seed)
    img = np.full((480, 640, 3), 245, np.uint8)
    words = ["serving", "paddle", "model", "42", "text", "line", "ocr", "2026", "fast"]
    for i in range(lines):
        text = " ".join(words[int(k)] for k in rng.integers(0, len(words), 3))
        cv2.putText(img, text, (20 + int(rng.integers(0, 60)), 45 + i * 55),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.1, (20, 20, 20), 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - encoding a valid array does not fail
        raise RuntimeError("cannot encode the generated page")
    return buf.tobytes()


def load_images(paths: list[str | Path]) -> dict[str, bytes]:
    """Read image files; a clear error names a missing or empty one."""
    images = {}
    for p in map(Path, paths):
        if not p.is_file():
            raise FileNotFoundError(f"image not found: {p}")
        data = p.read_bytes()
        if not data:
            raise ValueError(f"image is empty: {p}")
        images[p.name] = data
    return images
