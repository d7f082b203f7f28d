"""Fixtures for the export tests: a tiny factory module, configs, and shared exports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TINYNETS = '''
import paddle


class Tiny(paddle.nn.Layer):
    """Two inputs (one nested in a dict), a non-tensor argument, two outputs."""

    def __init__(self, hidden=3):
        super().__init__()
        self.fc = paddle.nn.Linear(4, hidden)

    def forward(self, x, d, scale=2.0):
        y = self.fc(x) * scale + d["b"]
        return paddle.nn.functional.softmax(y), paddle.nn.functional.relu(y)

    def embed(self, xs):
        return self.fc(xs[0]) + self.fc(xs[1])


class Conv(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)
        self.pool = paddle.nn.AdaptiveAvgPool2D(1)

    def forward(self, image):
        return paddle.flatten(self.pool(paddle.nn.functional.relu(self.conv(image))), 1)


class Drift(paddle.nn.Layer):
    """Python-side state the tracer freezes: the static graph differs from eager runs."""

    def __init__(self):
        super().__init__()
        self.fc = paddle.nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.fc(x) + float(self.calls)


def build_drift():
    return Drift()


def build(hidden=3):
    return Tiny(hidden)


def build_conv():
    return Conv()


def not_a_layer():
    return 42
'''

TINY_YML = """\
version: 1
task: generic
model:
  factory: tinynets:build
  args: {hidden: 3}
inputs:
  - {name: x, shape: [null, 4], dtype: float32}
  - dict: {b: {name: b, shape: [-1, 3]}}
  - {value: 3.0}
"""

EMBED_YML = """\
version: 1
task: embedding
model:
  factory: tinynets:build
  method: embed
inputs:
  - [{name: x0, shape: [-1, 4]}, {name: x1, shape: [-1, 4]}]
"""

MBV3_YML = """\
version: 1
task: classification
model:
  arch: mobilenet_v3_small
  args: {num_classes: 5, scale: 0.35}
labels: [cat, dog, bird, fish, frog]
"""


@pytest.fixture(scope="session")
def configs(tmp_path_factory) -> Path:
    """A directory holding tinynets.py and a few configs."""
    d = tmp_path_factory.mktemp("configs")
    (d / "tinynets.py").write_text(textwrap.dedent(TINYNETS))
    (d / "tiny.yml").write_text(TINY_YML)
    (d / "embed.yml").write_text(EMBED_YML)
    (d / "mbv3.yml").write_text(MBV3_YML)
    return d


@pytest.fixture(scope="session")
def pir_export(configs, tmp_path_factory):
    """The tiny factory model exported in PIR format with serving folders."""
    from generator.export.exporter import export_config

    out = tmp_path_factory.mktemp("pir_out")
    return export_config(configs / "tiny.yml", out)


@pytest.fixture(scope="session")
def legacy_export(configs, tmp_path_factory):
    """The embed method exported in legacy format (one worker subprocess)."""
    from generator.export.exporter import export_config

    out = tmp_path_factory.mktemp("legacy_out")
    return export_config(configs / "embed.yml", out, model_format="legacy")


SPLIT_SCRIPT = r'''
import os, sys, shutil
os.environ["FLAGS_enable_pir_api"] = "0"
import paddle
paddle.enable_static()
src, combined, separate = sys.argv[1:4]
exe = paddle.static.Executor(paddle.CPUPlace())
prog, feeds, fetches = paddle.static.load_inference_model(os.path.join(src, "model"), exe)
persist = [v for v in prog.list_vars() if v.persistable and v.name not in ("feed", "fetch")]
os.makedirs(combined); os.makedirs(separate)
shutil.copy(os.path.join(src, "model.pdmodel"), os.path.join(combined, "__model__"))
shutil.copy(os.path.join(src, "model.pdiparams"), os.path.join(combined, "__params__"))
shutil.copy(os.path.join(src, "model.pdmodel"), os.path.join(separate, "__model__"))
paddle.static.save_vars(exe, separate, prog, vars=persist)
print("OK", sorted(os.listdir(separate)))
'''


@pytest.fixture(scope="session")
def legacy_variants(legacy_export, tmp_path_factory) -> dict[str, Path]:
    """`__model__` + `__params__` and `__model__` + separate parameter files (subprocess)."""
    base = tmp_path_factory.mktemp("legacy_variants")
    combined, separate = base / "combined", base / "separate"
    env = dict(os.environ, FLAGS_enable_pir_api="0")
    proc = subprocess.run([sys.executable, "-c", SPLIT_SCRIPT, str(legacy_export.model_dir),
                           str(combined), str(separate)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]
    return {"combined": combined, "separate": separate}
