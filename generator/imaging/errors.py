"""Errors of the imaging package."""

from __future__ import annotations


class ImageDecodeError(ValueError):
    """The input is not a decodable image (bad base64, empty, unknown format, over a limit)."""
