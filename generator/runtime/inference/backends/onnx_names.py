"""Names shared by the ONNX exporter and the ONNX Runtime backend: the file name and the
metadata keys that map ONNX tensor names back to Paddle's (`read_name_mapping`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

#: The file name `scaffold export --format onnx` writes next to the Paddle model.
ONNX_FILENAME = "model.onnx"


METADATA_PREFIX = "paddle_serving_scaffold."


#: JSON list of {"onnx", "paddle", "dtype"} for each ONNX graph input, in ONNX order.
METADATA_INPUTS = METADATA_PREFIX + "inputs"


#: JSON list of {"onnx", "paddle", "dtype" (Paddle's), "onnx_dtype"} per output, ONNX order.
METADATA_OUTPUTS = METADATA_PREFIX + "outputs"


#: The largest batch the converted model runs (absent: any), e.g. "1" with multiclass_nms3.
METADATA_MAX_BATCH = METADATA_PREFIX + "max_batch_size"


#: JSON: the Paddle program converted, the converter, and the parity figures.
METADATA_SOURCE = METADATA_PREFIX + "source"


@dataclass(frozen=True)
class TensorMapping:
    """One ONNX graph input or output and the Paddle feed/fetch variable it stands for."""

    onnx_name: str
    paddle_name: str
    dtype: str  #: the Paddle program's numpy dtype name
    onnx_dtype: str
    shape: tuple[int, ...]  #: ONNX shape, -1 for a dynamic dimension


@dataclass(frozen=True)
class OnnxNameMapping:
    """What `read_name_mapping` finds in a converted model's metadata."""

    inputs: list[TensorMapping]
    outputs: list[TensorMapping]
    max_batch_size: int | None = None


def read_name_mapping(metadata: Mapping[str, str]) -> OnnxNameMapping | None:
    """The name mapping `convert_to_onnx` stored in a model's metadata (`onnx` ModelProto's
    `metadata_props` as a dict, or ONNX Runtime's `get_modelmeta().custom_metadata_map`);
    None for an ONNX model converted elsewhere."""
    if METADATA_INPUTS not in metadata or METADATA_OUTPUTS not in metadata:
        return None

    def parse(key: str) -> list[TensorMapping]:
        return [TensorMapping(e["onnx"], e["paddle"], e["dtype"], e.get("onnx_dtype", e["dtype"]),
                              tuple(e.get("shape", ())))
                for e in json.loads(metadata[key])]

    max_batch = metadata.get(METADATA_MAX_BATCH)
    return OnnxNameMapping(parse(METADATA_INPUTS), parse(METADATA_OUTPUTS),
                           int(max_batch) if max_batch else None)
