"""The generated clients and infer.py fail on user errors with a message, not a traceback: a
missing image, a service that is not running."""

from __future__ import annotations

import pytest
from scaffold_helpers import run_script

from tests.helpers.services import free_port

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script", ["pipeline_http_client.py", "pipeline_rpc_client.py",
                                    "infer.py"])
def test_missing_image_is_a_message(generated, script):
    folder, _, _ = generated("segmentation")
    proc = run_script(folder, script, "no_such_image.jpg")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot read the image no_such_image.jpg: No such file or directory" in proc.stderr


@pytest.mark.parametrize("script", ["pipeline_http_client.py", "pipeline_rpc_client.py"])
def test_service_down_is_a_message(generated, script, tmp_path):
    folder, _, _ = generated("segmentation")
    image = tmp_path / "x.jpg"
    image.write_bytes(b"not really an image")
    port = free_port()  # nothing listens there
    proc = run_script(folder, script, str(image), "--port", str(port), "--timeout", "5")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"127.0.0.1:{port}" in proc.stderr and "is the service running" in proc.stderr
