"""`scaffold new` safety and options: validation before writing, --dry-run, --overwrite,
names/titles that need escaping, GPU/TensorRT settings, --model-dir sources."""

from __future__ import annotations

import ast
import json
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml
from scaffold_helpers import CONFIGS, IMAGE, run_script, scaffold

from generator.runtime.config import load_pipeline_config
from generator.scaffold.render import py_literal, sh_word, yaml_value
from generator.service import OPS_BY_TASK, LocalService

YOLO = CONFIGS / "yolov3.yml"
REPO_FIXTURES = CONFIGS.parent / "tests" / "fixtures" / "ppdet" / "configs"


def _segment(deploy_config, folder):
    """The segmentation result of the test image by the service folder's model."""
    op = OPS_BY_TASK["segmentation"](name="s", deploy_config=deploy_config)
    return LocalService(op, folder / "serving_server").predict_images(
        {"image": IMAGE.read_bytes()})["image"]


def _siblings(parent):
    return sorted(p.name for p in parent.iterdir())


def test_dry_run_lists_files_and_writes_nothing(tmp_path):
    res = scaffold("new", "--config", str(YOLO), "--dry-run", "--name", "det", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    for name in ("web_service.py", "config.yml", "k8s/deployment.yaml", "serving_server/",
                 ".scaffold.yml", "infer_cfg.yml", "README.md", "Dockerfile"):
        assert f"  {name}\n" in res.output
    assert str(tmp_path / "det_serving") in res.output
    assert "RANDOM weights" in res.output  # said clearly before anything happens
    assert _siblings(tmp_path) == []


def test_existing_output_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "svc"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = scaffold("new", "--config", str(YOLO), "--output", str(out))
    assert res.exit_code == 2
    assert "already exists" in res.output and "--overwrite" in res.output
    assert "Nothing was changed" in res.output
    assert _siblings(out) == ["keep.txt"] and _siblings(tmp_path) == ["svc"]


@pytest.mark.parametrize("service, message", [
    ("{concurency: 2}", "service.concurency: unknown key (did you mean 'concurrency'?)"),
    ("{http_port: 70000}", "service.http_port: expected an integer 1..65535, found 70000"),
    ("{http_port: 9000, rpc_port: 9000}", "use two different ports"),
    ("{batch_size: 4, auto_batching_timeout: 0}", "auto_batching_timeout must be > 0"),
    ("{device: tpu}", "service.device: expected one of cpu, gpu"),
])
def test_bad_service_settings_fail_before_anything_is_written(tmp_path, service, message):
    res = scaffold("new", "--config", str(YOLO), "-o", f"service={service}",
                   "--output", str(tmp_path / "out"))
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert _siblings(tmp_path) == []  # no folder, no temporary sibling


def test_bad_name_and_bad_config_key_are_clear_errors(tmp_path):
    res = scaffold("new", "--config", str(YOLO), "--name", "my model/v2", cwd=tmp_path)
    assert res.exit_code == 2
    assert "'my model/v2' is not a valid service name" in res.output
    assert "'my_model_v2'" in res.output  # a suggestion that works
    res = scaffold("new", "--config", str(YOLO), "-o", "modle.x=1", cwd=tmp_path)
    assert res.exit_code == 2 and "modle" in res.output and "did you mean 'model'" in res.output
    assert _siblings(tmp_path) == []


def test_failure_during_export_leaves_no_folder(tmp_path):
    # valid config, but a weights file that does not exist: fails inside the export step
    res = scaffold("new", "--config", str(YOLO), "-o", "model.weights=missing.pdparams",
                   "--output", str(tmp_path / "out"))
    assert res.exit_code != 0
    assert "missing.pdparams" in res.output
    assert _siblings(tmp_path) == []


def test_escaping_filters_round_trip():
    nasty = "it's a \"quoted\" name\\ with $(rm -rf /) `x` and: yaml # stuff"
    assert ast.literal_eval(py_literal(nasty)) == nasty
    assert yaml.safe_load(f"key: {yaml_value(nasty)}") == {"key": nasty}
    assert shlex.split(f"echo {sh_word(nasty)}") == ["echo", nasty]
    for value in ("yes", "null", "1.0", "0x10", "- a", "[x]", "", "~"):
        assert yaml.safe_load(f"k: {yaml_value(value)}") == {"k": value}


@pytest.fixture(scope="module")
def quoted_service(tmp_path_factory, request):
    """A tiny native classifier whose config `name:` has spaces and quotes, GPU + TensorRT."""
    root = tmp_path_factory.mktemp("quoted")
    model = root / "tiny_net.py"
    model.write_text(
        "import paddle\n\n\n"
        "class Tiny(paddle.nn.Layer):\n"
        "    def __init__(self, classes=3):\n"
        "        super().__init__()\n"
        "        self.conv = paddle.nn.Conv2D(3, 4, 3, stride=2)\n"
        "        self.fc = paddle.nn.Linear(4, classes)\n\n"
        "    def forward(self, x):\n"
        "        y = paddle.nn.functional.adaptive_avg_pool2d(self.conv(x), 1).flatten(1)\n"
        "        return paddle.nn.functional.softmax(self.fc(y), axis=-1)\n\n\n"
        "def build(classes=3):\n"
        "    return Tiny(classes)\n")
    config = root / "tiny.yml"
    config.write_text(yaml.safe_dump({
        "version": 1, "name": "Bob's \"best\" $(model) v2", "task": "classification",
        "model": {"factory": "tiny_net:build", "args": {"classes": 3}},
        "inputs": [{"name": "x", "shape": [None, 3, 16, 16], "dtype": "float32"}],
        "preprocess": [{"type": "ResizeImage", "size": [16, 16]},
                       {"type": "NormalizeImage", "scale": 1 / 255, "mean": [0.5] * 3,
                        "std": [0.5] * 3, "order": ""}, {"type": "ToCHWImage"}],
        "labels": ["a \"b\"", "c'd", "e: f"],
        "service": {"memory": "1Gi", "batch_size": 4},
    }, sort_keys=False))
    out = root / "out"
    res = scaffold("new", "--config", str(config), "--output", str(out), "--trt", "fp16")
    assert res.exit_code == 0, res.output
    return out


def test_names_with_quotes_render_safely(quoted_service):
    out = quoted_service
    title = "Bob's \"best\" $(model) v2"
    source = (out / "web_service.py").read_text()
    tree = ast.parse(source)
    consts = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body
              if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
              and n.targets[0].id in ("NAME", "TITLE")}
    assert consts == {"NAME": "Bob_s_best_model_v2", "TITLE": title}
    for py in ("pipeline_http_client.py", "pipeline_rpc_client.py", "infer.py"):
        compile((out / py).read_text(), py, "exec")
    deployment = yaml.safe_load((out / "k8s" / "deployment.yaml").read_text())
    assert deployment["metadata"]["annotations"]["paddle-serving-scaffold/title"] == title
    assert deployment["metadata"]["name"] == "bob-s-best-model-v2"
    record = yaml.safe_load((out / ".scaffold.yml").read_text())
    assert record["title"] == title and record["inputs"]["trt"] == "fp16"
    assert (out / "label_list.txt").read_text().splitlines() == ["a \"b\"", "c'd", "e: f"]
    # the Dockerfile LABEL is a JSON string; the README's shell lines split cleanly
    label = next(line for line in (out / "Dockerfile").read_text().splitlines()
                 if "image.title=" in line)
    assert json.loads(label.split("image.title=", 1)[1].rstrip(" \\")) == title
    readme = (out / "README.md").read_text()
    assert "/Bob_s_best_model_v2/prediction" in readme
    for line in readme.splitlines():
        if line.startswith(("docker ", "python ", "kubectl ")):
            shlex.split(line)


def test_generated_folder_passes_ruff(quoted_service, generated):
    from tests.helpers.services import REPO_ROOT

    ruff = [sys.executable, "-m", "ruff"]
    rules = ["--isolated", "--select", "E,F,W,I,B,UP", "--line-length", "100",
             "--target-version", "py311"]
    for folder in (quoted_service, generated("detection")[0]):
        for args in (["check", *rules, "."],  # on its own
                     # inside this repository (make serve's yolov3_serving/): generator is
                     # first-party there, the folder's own modules are not
                     ["check", *rules, "--config", f"src=[{str(REPO_ROOT)!r}]", "."],
                     ["format", "--check", "--isolated", "--line-length", "100", "."]):
            proc = subprocess.run([*ruff, *args], cwd=folder, capture_output=True, text=True)
            assert proc.returncode == 0, f"ruff {args[0]}:\n{proc.stdout}{proc.stderr}"


def test_trt_settings_and_dynamic_shapes(quoted_service):
    conf = load_pipeline_config(str(quoted_service / "config.yml"))
    local = conf["op"]["classification"]["local_service_conf"]
    assert local["device_type"] == 2 and local["devices"] == "0"
    assert local["precision"] == "fp16" and local["min_subgraph_size"] == 3
    assert local["min_input_shape"] == {"x": [1, 3, 16, 16]}
    assert local["opt_input_shape"] == {"x": [1, 3, 16, 16]}
    assert local["max_input_shape"] == {"x": [8, 3, 16, 16]}
    assert conf["op"]["classification"]["batch_size"] == 4
    text = (quoted_service / "config.yml").read_text()
    # every key line is preceded by its comment
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#") and ":" in line \
                and not line.strip().endswith(("classification:",)):
            assert lines[i - 1].lstrip().startswith("#"), line
    assert "nvidia/cuda" in (quoted_service / "Dockerfile").read_text()
    assert "paddlepaddle-gpu" in (quoted_service / "Dockerfile").read_text()
    # the non-root user may write TensorRT's engine cache
    assert "chown 10001:10001 serving_server/_opt_cache" in \
        (quoted_service / "Dockerfile").read_text()
    assert "[gpu]" in (quoted_service / "requirements.txt").read_text()
    deployment = yaml.safe_load((quoted_service / "k8s" / "deployment.yaml").read_text())
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1 and limits["memory"] == "1Gi"


def test_gpu_device_and_k8s_manifests(generated):
    folder, http_port, _ = generated("detection")
    conf = load_pipeline_config(str(folder / "config.yml"))
    assert conf["op"]["detection"]["local_service_conf"]["device_type"] == 0
    dep = yaml.safe_load((folder / "k8s" / "deployment.yaml").read_text())
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > conf["shutdown_timeout_s"]
    assert {p["containerPort"] for p in container["ports"]} == {http_port, conf["rpc_port"]}
    svc = yaml.safe_load((folder / "k8s" / "service.yaml").read_text())
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    hpa = yaml.safe_load((folder / "k8s" / "hpa.yaml").read_text())
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert "FROM python:3.11-slim" in (folder / "Dockerfile").read_text()
    from generator import __version__
    # Paddle's CPU build plus only the runtime of the backend config.yml uses
    backend = conf["op"]["detection"]["local_service_conf"]["backend"]
    extras = "paddle-cpu" + ("" if backend == "paddle" else f",{backend}")
    assert f"paddle-serving-scaffold[{extras}]=={__version__}" in \
        (folder / "requirements.txt").read_text()
    record = yaml.safe_load((folder / ".scaffold.yml").read_text())
    assert record["versions"]["paddle-serving-scaffold"] == __version__
    assert record["inputs"]["overrides"][0] == "model.args.image_shape=[3,64,64]"
    assert record["random_weights"] is True


def test_overwrite_replaces_the_folder(generated, tmp_path):
    folder, _, _ = generated("segmentation")
    out = tmp_path / "copy"
    shutil.copytree(folder, out)
    (out / "stale.txt").write_text("old")
    res = scaffold("new", "--model-dir", str(folder), "--output", str(out), "--overwrite",
                   "--name", "seg2")
    assert res.exit_code == 0, res.output
    assert (out / "stale.txt").read_text() == "old"  # a file the user added is kept
    assert "kept your file stale.txt" in res.output
    assert "/seg2/prediction" in (out / "README.md").read_text()
    assert _siblings(tmp_path) == ["copy"]


# ----------------------------------------------------------------- --model-dir sources


def _ppdet_folder(det_service, root):
    """The layout PaddleDetection's tools/export_model.py writes (Paddle 3)."""
    src = root / "yolov3_mobilenet_v1_270e_coco"
    src.mkdir()
    for name in ("model.json", "model.pdiparams"):
        shutil.copy(det_service / "serving_server" / name, src / name)
    shutil.copy(det_service / "infer_cfg.yml", src / "infer_cfg.yml")
    return src


def test_model_dir_from_paddledetection_export(generated, tmp_path):
    det, _, _ = generated("detection")
    src = _ppdet_folder(det, tmp_path)
    res = scaffold("new", "--model-dir", str(src), cwd=tmp_path)
    assert res.exit_code == 0, res.output
    out = tmp_path / "yolov3_mobilenet_v1_270e_coco_serving"
    assert (out / "serving_server" / "model.json").is_file()
    assert (out / "serving_server" / "serving_server_conf.prototxt").is_file()
    assert (out / "infer_cfg.yml").read_text() == (src / "infer_cfg.yml").read_text()
    proc = run_script(out, "infer.py", str(IMAGE))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])["result"]["image"]
    op = OPS_BY_TASK["detection"](name="d", deploy_config=src / "infer_cfg.yml")
    want = LocalService(op, det / "serving_server").predict_images(
        {"image": IMAGE.read_bytes()})["image"]
    assert [d["bbox"] for d in got] == pytest.approx([d["bbox"] for d in want], abs=1e-3)


def test_model_dir_from_paddleclas_export(generated, tmp_path):
    cls, _, _ = generated("classification")
    src = tmp_path / "ResNet50_infer"
    src.mkdir()
    shutil.copy(cls / "serving_server" / "model.json", src / "inference.json")
    shutil.copy(cls / "serving_server" / "model.pdiparams", src / "inference.pdiparams")
    record = yaml.safe_load((cls / "infer_cfg.yml").read_text())
    labels = [f"class {i}" for i in range(1000)]
    (src / "inference.yml").write_text(yaml.safe_dump({
        "Global": {"model_name": "ResNet50"},
        "PreProcess": {"transform_ops": [{op.pop("type"): op} for op in record["Preprocess"]]},
        "PostProcess": {"Topk": {"topk": 5, "label_list": labels}},
    }))
    out = tmp_path / "svc"
    res = scaffold("new", "--model-dir", str(src), "--output", str(out), "--name", "resnet50")
    assert res.exit_code == 0, res.output
    assert (out / "inference.yml").is_file() and not (out / "infer_cfg.yml").exists()
    assert 'deploy_config=HERE / "inference.yml"' in (out / "web_service.py").read_text()
    assert (out / "label_list.txt").read_text().splitlines() == labels
    op = OPS_BY_TASK["classification"](name="c", deploy_config=out / "inference.yml",
                                       labels=out / "label_list.txt", top_k=5)
    got = LocalService(op, out / "serving_server").predict_images({"image": IMAGE.read_bytes()})
    op = OPS_BY_TASK["classification"](name="c", deploy_config=cls / "infer_cfg.yml", top_k=5)
    want = LocalService(op, cls / "serving_server").predict_images({"image": IMAGE.read_bytes()})
    assert [g["category_id"] for g in got["image"]] == [w["category_id"] for w in want["image"]]
    assert got["image"][0]["label"] == f"class {got['image'][0]['category_id']}"


def test_model_dir_without_deploy_record_needs_a_config(generated, tmp_path):
    seg, _, _ = generated("segmentation")
    src = tmp_path / "bare"
    src.mkdir()
    for name in ("model.json", "model.pdiparams"):
        shutil.copy(seg / "serving_server" / name, src / name)
    res = scaffold("new", "--model-dir", str(src), "--output", str(tmp_path / "o"))
    assert res.exit_code == 2 and "no deploy record found" in res.output
    assert not (tmp_path / "o").exists()
    processing = tmp_path / "seg.yml"
    processing.write_text(yaml.safe_dump({
        "version": 1, "name": "bare_seg", "task": "segmentation",
        "preprocess": [{"type": "Resize", "target_size": [64, 64]},
                       {"type": "Normalize", "mean": [0.5] * 3, "std": [0.5] * 3}]}))
    res = scaffold("new", "--model-dir", str(src), "--config", str(processing),
                   "--output", str(tmp_path / "o"))
    assert res.exit_code == 0, res.output
    got = _segment(tmp_path / "o" / "infer_cfg.yml", tmp_path / "o")
    assert got == _segment(seg / "infer_cfg.yml", seg)


def test_model_dir_from_paddleseg_export(generated, tmp_path):
    seg, _, _ = generated("segmentation")
    src = tmp_path / "pp_liteseg_infer"
    src.mkdir()
    for name in ("model.json", "model.pdiparams"):
        shutil.copy(seg / "serving_server" / name, src / name)
    transforms = yaml.safe_load((seg / "infer_cfg.yml").read_text())["Preprocess"]
    (src / "deploy.yaml").write_text(yaml.safe_dump({"Deploy": {
        "model": "model.json", "params": "model.pdiparams", "transforms": transforms}}))
    res = scaffold("new", "--model-dir", str(src), "--output", str(tmp_path / "o"))
    assert res.exit_code == 0, res.output
    assert "SegmentationOp" in (tmp_path / "o" / "web_service.py").read_text()
    assert "/pp_liteseg_infer/prediction" in (tmp_path / "o" / "README.md").read_text()
    got = _segment(tmp_path / "o" / "deploy.yaml", tmp_path / "o")
    assert got == _segment(seg / "infer_cfg.yml", seg)


def test_paddledetection_config_is_detected(tmp_path):
    config = REPO_FIXTURES / "tinyyolo" / "tiny_yolov3_mbv1.yml"
    res = scaffold("new", "--config", str(config), "--dry-run", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    assert "(detection service 'tiny_yolov3_mbv1')" in res.output
    assert "-o weights=PATH.pdparams" in res.output
    assert _siblings(tmp_path) == []


def test_templates_are_found_outside_the_checkout(tmp_path, monkeypatch):
    from generator.scaffold import render

    repo_templates = render.template_dirs()[0]
    assert repo_templates == REPO_FIXTURES.parents[3] / "templates"
    # a wheel's data_files location: <prefix>/share/paddle-serving-scaffold/templates
    prefix = tmp_path / "prefix"
    shutil.copytree(repo_templates, prefix / "share" / "paddle-serving-scaffold" / "templates")
    monkeypatch.setattr(sys, "prefix", str(prefix))
    assert prefix / "share" / "paddle-serving-scaffold" / "templates" in render.template_dirs()
    monkeypatch.setenv("SCAFFOLD_TEMPLATES", str(tmp_path / "custom"))
    shutil.copytree(repo_templates, tmp_path / "custom")
    assert render.find_templates_dir() == tmp_path / "custom"
    monkeypatch.setenv("SCAFFOLD_TEMPLATES", str(tmp_path / "nowhere"))
    monkeypatch.setattr(render, "__file__", str(tmp_path / "a" / "b" / "render.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "empty"))
    with pytest.raises(render.ScaffoldError, match="templates are not installed"):
        render.find_templates_dir()
