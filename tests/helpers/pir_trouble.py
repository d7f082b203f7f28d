"""Small PIR programs with the ops paddle2onnx 2.1.0 misreads on Paddle 3: leaky_relu (double
slope), nearest and bilinear interpolation with scales (double lists), hardswish; TinyYolo
(tiny_models) adds multiclass_nms3. Saved in a child process (`paddle.jit.save` as
`<prefix>.json` + `<prefix>.pdiparams`), weights seeded and non-degenerate."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

_SAVE = textwrap.dedent('''
    import sys
    import numpy as np
    import paddle
    from paddle import nn

    class Trouble(nn.Layer):
        """conv -> leaky_relu(0.1) -> hardswish -> nearest x2 + bilinear x2 -> conv -> pool
        -> fc -> softmax: a classifier whose body has every op paddle2onnx misreads."""

        def __init__(self, classes):
            super().__init__()
            self.c1 = nn.Conv2D(3, 8, 3, stride=2, padding=1)
            self.bn = nn.BatchNorm2D(8)
            self.c2 = nn.Conv2D(8, 8, 3, stride=2, padding=1)
            self.fc = nn.Linear(8, classes)

        def forward(self, x):
            y = nn.functional.hardswish(nn.functional.leaky_relu(self.bn(self.c1(x)), 0.1))
            y = (nn.functional.interpolate(y, scale_factor=2, mode="nearest")
                 + nn.functional.interpolate(y, scale_factor=2, mode="bilinear"))
            y = nn.functional.leaky_relu(self.c2(y), 0.2)
            y = paddle.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1)
            return nn.functional.softmax(self.fc(y) * 4.0, axis=-1)

    out, size, classes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    paddle.seed(0)
    layer = Trouble(classes)
    rng = np.random.default_rng(0)
    for p in layer.parameters():
        p.set_value((rng.standard_normal(p.shape) * 0.3).astype("float32"))
    layer.bn._mean.set_value(rng.standard_normal(8).astype("float32") * 0.1)
    layer.bn._variance.set_value((rng.random(8) + 0.5).astype("float32"))
    layer.eval()
    spec = [paddle.static.InputSpec([None, 3, size, size], "float32", "x")]
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=spec, full_graph=True), out)
''')


def save_trouble_classifier(model_dir: str | Path, *, prefix: str = "model", size: int = 32,
                            classes: int = 5) -> Path:
    """Save the troublesome-ops classifier (input `x` [N,3,size,size]) as a PIR program."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # to_static reads the layer's source file
        script = Path(tmp) / "save_trouble.py"
        script.write_text(_SAVE)
        proc = subprocess.run([sys.executable, str(script), str(model_dir / prefix), str(size),
                               str(classes)], capture_output=True, text=True, timeout=300,
                              check=False)
    if proc.returncode != 0 or not (model_dir / f"{prefix}.json").is_file():
        raise RuntimeError(f"saving the PIR test program failed: {proc.stderr[-2000:]}")
    return model_dir
