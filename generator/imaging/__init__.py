"""Image primitives shared by `generator.runtime.reader` (Paddle Serving's reader operators)
and `generator.preprocess` (toolkit-exact preprocessing): one implementation of decoding,
resizing with each toolkit's rounding rules, cropping, padding and normalisation.

Modules: `decode` (bytes/base64/file -> HWC uint8), `resize` (size rules and OpenCV resizes),
`layout` (channel order, CHW, crop, pad, batching), `normalize` (dtype-exact normalisation).
"""

from generator.imaging.decode import (
    ImageDecodeError,
    decode_base64,
    decode_bytes,
    decode_file,
    encode_png,
)
from generator.imaging.layout import (
    center_crop,
    hwc_to_chw,
    pad_bottom_right,
    pad_chw_to_stride,
    reverse_channels,
    stack_padded,
)
from generator.imaging.limits import (
    ImageLimitError,
    check_count,
    check_pixels,
    configure,
    header_size,
)
from generator.imaging.normalize import (
    divide,
    multiply,
    per_uint8_value,
    scale_subtract_divide_f32,
    subtract_divide,
)
from generator.imaging.resize import (
    INTERPOLATIONS,
    interp_code,
    keep_ratio_scale,
    letterbox,
    long_side_size,
    ocr_factor_size,
    resize_by_scale,
    resize_to,
    scaled_size,
    seg_keep_ratio_size,
    short_side_size,
)

__all__ = [
    "INTERPOLATIONS",
    "ImageDecodeError",
    "ImageLimitError",
    "check_count",
    "check_pixels",
    "configure",
    "header_size",
    "center_crop",
    "decode_base64",
    "decode_bytes",
    "decode_file",
    "divide",
    "encode_png",
    "hwc_to_chw",
    "interp_code",
    "keep_ratio_scale",
    "letterbox",
    "long_side_size",
    "multiply",
    "ocr_factor_size",
    "pad_bottom_right",
    "pad_chw_to_stride",
    "resize_by_scale",
    "resize_to",
    "reverse_channels",
    "per_uint8_value",
    "scale_subtract_divide_f32",
    "scaled_size",
    "seg_keep_ratio_size",
    "short_side_size",
    "stack_padded",
    "subtract_divide",
]
