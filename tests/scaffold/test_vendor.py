"""`scaffold new --vendor`: the service folder carries this package's wheel, which the generated
Dockerfile installs before looking at the package index."""

from __future__ import annotations

import re
import zipfile

from scaffold_helpers import SERVICES, scaffold


def test_vendor_puts_an_installable_wheel_next_to_the_dockerfile(tmp_path):
    config, overrides = SERVICES["classification"]
    out = tmp_path / "cls_serving"
    opts = [a for o in overrides for a in ("-o", o)]
    res = scaffold("new", "--config", str(config), *opts, "--output", str(out), "--vendor")
    assert res.exit_code == 0, res.output
    wheels = list((out / "vendor").glob("paddle_serving_scaffold-*-py3-none-any.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "generator/runtime/__init__.py" in names and "generator/service/ops.py" in names
    assert any(n.endswith("templates/service/web_service.py.j2") for n in names)
    docker = (out / "Dockerfile").read_text()
    assert "COPY vendor/ vendor/" in docker and "--find-links vendor" in docker
    pin = (out / "requirements.txt").read_text()
    version = wheels[0].name.split("-")[1]
    assert re.search(rf"^paddle-serving-scaffold\[paddle-cpu(,openvino|,onnxruntime)?\]=="
                     rf"{re.escape(version)}$", pin, re.M), pin
