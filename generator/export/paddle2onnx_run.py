"""Running paddle2onnx in a child process (a converter crash cannot take the CLI down) and
turning its log into a short error that says what failed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from generator.export import pir_fixups
from generator.export.errors import OnnxExportError
from generator.export.pir_fixups import Correction

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_STAMP = re.compile(r"\d{4}-\d\d-\d\d ")


_CHILD = """\
import json, sys
req = json.loads(sys.argv[1])
import paddle2onnx
paddle2onnx.export(req["model"], req["params"], req["save_file"],
                   opset_version=req["opset"], enable_onnx_checker=True,
                   optimize_tool="none")
"""


def _conversion_error(log: str) -> str:
    """paddle2onnx's error lines (it prints them instead of raising)."""
    lines = [_ANSI.sub("", ln).strip() for ln in log.splitlines()]
    blocks: list[str] = []
    for k, ln in enumerate(lines):
        if "[ERROR]" in ln and ln.split("[ERROR]", 1)[1].strip() not in ("", "None", "None."):
            block = [ln]
            # the message continues on the next lines (enforce hints, checker details)
            for nxt in lines[k + 1:k + 4]:
                if not nxt or nxt.startswith(("[Paddle2ONNX]", "[I]", "[W]")) or _STAMP.match(nxt):
                    break
                block.append(nxt)
            blocks.append("\n".join(block))
    text = "\n".join(dict.fromkeys(blocks))
    if "is not output of any previous nodes" in text:
        text += ("\n(a weight is missing from the parameters: the .pdiparams file is broken or "
                 "belongs to another model)")
    if "FloatAttribute" in text:
        text += ("\n(Paddle 3 PIR programs store some attributes as doubles, e.g. "
                 "nearest_interp.scale; paddle2onnx 2.1.0 reads only floats. convert_to_onnx "
                 "retags the ones known (leaky_relu slopes, interpolation scales: "
                 "pir_fixups.FLOAT_READ) in a copy of the program unless correct_pir=False; "
                 "a legacy .pdmodel does not help: paddle2onnx translates it to PIR first. "
                 "Serve this model with backend paddle, or openvino on a legacy export.)")
    return text


def _stage_model(files: Any, work: Path, correct_pir: bool
                 ) -> tuple[Path, Path, list[Correction]]:
    """(program, params) paths paddle2onnx can read (it wants `*.json` or `*.pdmodel`), and the
    corrections made to a PIR program's copy for it (`pir_fixups.converter_copy`)."""
    if files.kind == "separate":
        raise OnnxExportError(
            f"{files.model_dir}: parameters saved one file per variable (`__model__` layout) "
            "cannot be converted; re-save the model with combined parameters "
            "(paddle.jit.save or scaffold export)")
    if files.kind == "combined_legacy":
        shutil.copyfile(files.model_file, work / "model.pdmodel")
        shutil.copyfile(files.params_file, work / "model.pdiparams")
        return work / "model.pdmodel", work / "model.pdiparams", []
    if not correct_pir or files.kind != "pir_json":
        return files.model_file, files.params_file, []
    copy, done = pir_fixups.converter_copy(pir_fixups.load_program(files.model_file))
    if not done:
        return files.model_file, files.params_file, []
    staged = work / "model.json"
    staged.write_text(json.dumps(copy), encoding="utf-8")
    return staged, files.params_file, done


def _run_paddle2onnx(program: Path, params: Path, save_file: Path, opset: int,
                     timeout: float) -> tuple[str, int]:
    request = {"model": str(program), "params": str(params), "save_file": str(save_file),
               "opset": int(opset)}
    env = dict(os.environ, GLOG_minloglevel="2", P2O_KEEP_TEMP_MODEL="0",
               POLYGRAPHY_AUTOINSTALL_DEPS="0")
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(request)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise OnnxExportError(f"paddle2onnx did not finish within {timeout:g} s") from None
    return proc.stdout, proc.returncode
