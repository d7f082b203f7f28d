"""`scaffold new`: the fastest inference backend that gives Paddle's outputs, chosen on this
machine for this model.

Candidates (CPU): Paddle Inference with oneDNN off (the reference), Paddle with oneDNN on the
PIR program (with the Paddle 3.3.1 pass workarounds) and on the legacy program, OpenVINO on the
legacy program (else on the ONNX conversion) and ONNX Runtime on a paddle2onnx conversion (with
the PIR misreads corrected: `generator.export.pir_fixups`), each where its package and model
format are available. No candidate is refused before it is tried: the conversion runs and is
compared with Paddle on the service's own preprocessed sample; what fails says why. All run on
the same preprocessed sample image in a probe child process (`generator.runtime.inference.probe`: a
crash costs a candidate, not `scaffold new`), timed in interleaved rounds; each is compared
with the reference by `generator.quality.backend_parity`, and the choice
(`generator.scaffold.backend_decision`: the reference is replaced only by a candidate clearly
faster) is written into config.yml with the measured figures.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generator.runtime.inference.predictor import PredictorOptions
from generator.runtime.inference.probe import ProbeResult, measure_backends
from generator.scaffold.backend_decision import MARGIN, decide, spread
from generator.scaffold.errors import ScaffoldConfigError

logger = logging.getLogger(__name__)

BACKEND_CHOICES = ("auto", "paddle", "openvino", "onnxruntime")
#: interleaved timing rounds; timed runs per candidate and round (after one untimed run); the
#: least measuring time per candidate over all rounds (see backend_decision for the rule)
ROUNDS = 5
RUNS = 1
MIN_SECONDS = 1.5


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: a backend, oneDNN or not, and the program format."""

    label: str
    backend: str
    use_mkldnn: bool
    program: str  # "pir", "legacy" or "onnx" (the folder the candidate reads)


@dataclass
class Measured:
    candidate: Candidate
    result: ProbeResult
    parity_ok: bool = False
    parity_note: str = ""

    @property
    def usable(self) -> bool:
        return self.result.ok and self.parity_ok


@dataclass
class BackendChoice:
    """The chosen candidate and every measurement behind the choice."""

    chosen: Candidate
    measured: list[Measured] = field(default_factory=list)
    reason: str = ""

    @property
    def reference_s(self) -> float:
        return self.measured[0].result.median_s if self.measured else float("nan")

    @property
    def chosen_s(self) -> float | None:
        """The chosen candidate's measured batch-1 median (s), None when it was not timed."""
        found = [m for m in self.measured if m.candidate == self.chosen and m.result.ok]
        return found[0].result.median_s if found else None

    def speedup(self, m: Measured) -> float:
        return self.reference_s / m.result.median_s if m.result.ok else float("nan")

    def rows(self) -> list[str]:
        """One line per candidate: label, median latency, speed-up, parity or failure."""
        lines = []
        for m in self.measured:
            mark = "*" if m.candidate == self.chosen else " "
            if not m.result.ok:
                lines.append(f"{mark} {m.candidate.label:<26} failed: {m.result.failure[:160]}")
                continue
            same = "same outputs" if m.parity_ok else f"DIFFERENT outputs ({m.parity_note[:120]})"
            figures = spread(m.result.rounds_s or m.result.times_s).text()
            lines.append(f"{mark} {m.candidate.label:<26} {figures} "
                         f"{self.speedup(m):5.2f}x  {same}")
        return lines

    def table(self) -> str:
        head = (f"backend: {self.chosen.label} ({self.reason})" if self.reason
                else f"backend: {self.chosen.label}")
        return "\n".join([head, *self.rows()])


def available_backends() -> dict[str, str]:
    """{backend: "" if usable here, else why not} for the optional backends."""
    out = {"paddle": ""}
    out["openvino"] = "" if importlib.util.find_spec("openvino") else \
        "not installed (pip install 'paddle-serving-scaffold[openvino]')"
    missing = [m for m in ("onnxruntime", "paddle2onnx") if not importlib.util.find_spec(m)]
    out["onnxruntime"] = "" if not missing else \
        f"{' and '.join(missing)} not installed (pip install 'paddle-serving-scaffold[onnx]')"
    return out


def converter_missing() -> str:
    """"" when a Paddle program can be converted to ONNX (and checked) here, else why not."""
    missing = [m for m in ("paddle2onnx", "onnx", "onnxruntime")
               if not importlib.util.find_spec(m)]
    return "" if not missing else (f"{' and '.join(missing)} not installed (pip install "
                                   "'paddle-serving-scaffold[onnx]')")


def candidates_for(requested: str, *, has_legacy: bool, has_pir: bool, has_onnx: bool,
                   allow_onednn: bool) -> list[Candidate]:
    """The candidates to measure, the reference first."""
    ref_program = "pir" if has_pir else "legacy"
    out = [Candidate("paddle (oneDNN off)", "paddle", False, ref_program)]
    if requested in ("auto", "paddle") and allow_onednn:
        if has_pir:
            out.append(Candidate("paddle oneDNN (PIR)", "paddle", True, "pir"))
        if has_legacy:
            out.append(Candidate("paddle oneDNN (legacy)", "paddle", True, "legacy"))
    if requested in ("auto", "openvino") and has_legacy:
        out.append(Candidate("openvino fp32", "openvino", False, "legacy"))
    elif requested in ("auto", "openvino") and has_onnx:
        out.append(Candidate("openvino fp32 (ONNX)", "openvino", False, "onnx"))
    if requested in ("auto", "onnxruntime") and has_onnx:
        out.append(Candidate("onnxruntime fp32", "onnxruntime", False, "onnx"))
    return out


def choose_backend(folders: dict[str, Path], feed: dict[str, np.ndarray], *,
                   requested: str = "auto", thread_num: int = 2,
                   allow_onednn: bool = True) -> BackendChoice:
    """Measure the candidates on `feed` and pick the fastest with the reference's outputs.

    `folders` maps program formats ("pir", "legacy", "onnx") to serving_server folders holding
    them. `requested` other than "auto" limits the choice to that backend (its oneDNN and
    program variants for paddle); if none of them works, the error says why.
    """
    cands = candidates_for(requested, has_legacy="legacy" in folders, has_pir="pir" in folders,
                           has_onnx="onnx" in folders, allow_onednn=allow_onednn)
    from generator.export.progress import note

    note(f"backends: measuring {', '.join(c.label for c in cands)} on this machine in "
         f"{ROUNDS} interleaved rounds (at least {MIN_SECONDS:g} s per candidate) in a probe "
         f"process; "
         f"the reference is replaced only by one >= {MARGIN:.0%} faster on the median "
         "(ms: median [fastest-slowest round])")
    options = [PredictorOptions(thread_num=thread_num, backend=c.backend, use_mkldnn=c.use_mkldnn,
                                mem_optim=False, ir_optim=True) for c in cands]
    results = measure_backends([(folders[c.program], o) for c, o in zip(cands, options,
                                                                          strict=True)],
                               feed, runs=RUNS, min_seconds=MIN_SECONDS, rounds=ROUNDS)
    from generator.quality.backend_parity import outputs_equivalent

    measured = [Measured(c, r) for c, r in zip(cands, results, strict=True)]
    ref = measured[0]
    if not ref.result.ok:
        raise ScaffoldConfigError(f"the model does not run on Paddle Inference (oneDNN off): "
                                  f"{ref.result.failure}")
    ref.parity_ok, ref.parity_note = True, "reference"
    for m in measured[1:]:
        if m.result.ok:
            m.parity_ok, m.parity_note = outputs_equivalent(
                by_position(m.result.outputs, ref.result.outputs), ref.result.outputs)
    pool = [m for m in measured if m.usable and (requested == "auto"
                                                  or m.candidate.backend == requested)]
    if not pool:
        notes = "; ".join(f"{m.candidate.label}: {m.result.failure or m.parity_note}"
                          for m in measured if m.candidate.backend == requested)
        raise ScaffoldConfigError(f"--backend {requested} cannot serve this model here: "
                                  f"{notes or 'not available'}")
    if requested in ("auto", "paddle"):
        label, why = decide(_rounds(ref), {m.candidate.label: _rounds(m) for m in pool
                                           if m is not ref})
        best = next((m for m in pool if m.candidate.label == label), ref)
        reason = (f"same outputs, {why}" if best is not ref else f"reference kept: {why}")
        if requested == "paddle":
            reason = f"--backend paddle, {reason}"
        return BackendChoice(best.candidate, measured, reason)
    best = min(pool, key=lambda m: m.result.median_s)
    return BackendChoice(best.candidate, measured, "--backend " + requested)


def _rounds(m: Measured) -> list[float]:
    return m.result.rounds_s or m.result.times_s


def install_program(choice: Candidate, folders: dict[str, Path], serving_server: Path,
                    serving_client: Path, legacy_client: Path | None) -> None:
    """Make the service folder's serving_server/ (and serving_client/) hold the program the
    chosen candidate reads."""
    if choice.program == "legacy" and folders.get("legacy") != serving_server:
        from generator.serving_model import read_model_config

        aliases = read_model_config(serving_server)
        shutil.rmtree(serving_server)
        shutil.copytree(folders["legacy"], serving_server)
        _keep_aliases(serving_server, "serving_server", aliases)
        if legacy_client is not None:
            shutil.rmtree(serving_client)
            shutil.copytree(legacy_client, serving_client)
            _keep_aliases(serving_client, "serving_client", aliases)
    elif choice.program == "onnx" and folders["onnx"] != serving_server:
        for f in folders["onnx"].glob("model.onnx*"):
            shutil.copy2(f, serving_server / f.name)


def _keep_aliases(folder: Path, prefix: str, before) -> None:
    """Give the legacy program's variables the alias names clients already know (the PIR
    export's, by position: the same model has the same feeds and fetches in the same order)."""
    from dataclasses import replace

    from generator.serving_model import read_model_config, write_model_config

    conf = read_model_config(folder / f"{prefix}_conf.prototxt")

    def renamed(now, old):
        if len(now) != len(old) or any(n.dtype_code != o.dtype_code
                                       for n, o in zip(now, old, strict=True)):
            return now
        return [replace(n, alias_name=o.alias_name) for n, o in zip(now, old, strict=True)]

    write_model_config(folder, prefix, renamed(conf.feed_vars, before.feed_vars),
                       renamed(conf.fetch_vars, before.fetch_vars))


def by_position(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`got`'s outputs renamed to `want`'s names by fetch order (programs of other formats
    name their variables differently); `.lod` entries dropped."""
    g = [v for k, v in got.items() if not k.endswith(".lod")]
    w = [k for k in want if not k.endswith(".lod")]
    if set(got) >= set(w) or len(g) != len(w):
        return got
    return dict(zip(w, g, strict=True))


def comment_lines(choice: BackendChoice) -> list[str]:
    """config.yml comment lines with the measured figures."""
    if not choice.measured:
        return [f"backend: {choice.chosen.label} ({choice.reason})"]
    lines = [f"chosen by scaffold new ({choice.reason}); batch-1 latency on the machine that "
             "generated it:"]
    return lines + [" ".join(r.split()) for r in choice.rows()]


def service_extras(device: str, *backends: str) -> str:
    """The package extras a generated service installs: its Paddle build, plus the runtime of
    each chosen backend (one per model; not the converter, nor the backends not chosen)."""
    if device != "cpu":
        return device
    return ",".join(["paddle-cpu", *fast_runtimes(*backends)])


def fast_runtimes(*backends: str) -> list[str]:
    """The backend runtimes beyond Paddle among `backends`, each once, sorted."""
    return sorted({b for b in backends if b in ("openvino", "onnxruntime")})


def default_concurrency(choice: BackendChoice | None) -> int:
    """Model Op threads when the config does not say: 2 where inference releases the GIL (a
    request is decoded and answered while another one runs), else 1."""
    return 2 if choice is not None and choice.chosen.backend in ("openvino", "onnxruntime") \
        else 1


def check_requested(backend: str | None) -> str:
    """Validate `--backend` (None: auto)."""
    value = backend or "auto"
    if value not in BACKEND_CHOICES:
        raise ScaffoldConfigError(f"--backend must be one of {', '.join(BACKEND_CHOICES)}, "
                                  f"got {backend!r}")
    if value != "auto":
        why = available_backends().get(value, "")
        if why:
            raise ScaffoldConfigError(f"--backend {value}: {why}")
    return value


def _convert_onnx(server: Path, feed: dict[str, np.ndarray]) -> str:
    """paddle2onnx (PIR misreads corrected) into `server/model.onnx`, kept when ONNX Runtime
    gives Paddle's outputs on `feed` (the service's preprocessed sample, by alias) under the
    backend parity rules; "" or precisely why not (the output and its difference, or the
    converter's error)."""
    from generator.export.errors import ExportError
    from generator.export.onnx_export import OnnxParityError, convert_to_onnx
    from generator.quality.backend_parity import outputs_equivalent
    from generator.serving_model import read_model_config

    names = {v.alias_name: v.name for v in read_model_config(server).feed_vars}
    samples = {names.get(k, k): v for k, v in feed.items()}
    try:
        convert_to_onnx(server, server / "model.onnx", samples=samples,
                        judge=outputs_equivalent)
    except OnnxParityError as exc:
        hint = [ln for ln in str(exc).splitlines() if ln.startswith("likely cause")]
        return ("converted, but ONNX Runtime's outputs differ from Paddle's: "
                + (exc.report.problem or str(exc).split(":\n", 1)[-1].splitlines()[0].strip())
                + ("; " + hint[0] if hint else ""))[:600]
    except ExportError as exc:
        text = " ".join(str(exc).split())
        why = text[text.rfind("(", 0, len(text) - 1):] if text.endswith(")") else ""
        return "conversion failed: " + text[:300] + (" ... " + why[:400] if why else "")
    return ""


def sample_feed(server: Path, deploy: Path) -> dict[str, np.ndarray]:
    """The inputs of the model in `server` for one generated sample image, preprocessed as the
    deploy record `deploy` says (as the service will)."""
    from generator.preprocess import build_preprocess, make_feed
    from generator.quality.samples import generated_images
    from generator.service.deploy_config import read_deploy_config
    from generator.serving_model import read_model_config

    record = read_deploy_config(deploy)
    image = next(iter(generated_images(1).values()))
    names = [v.alias_name for v in read_model_config(server).feed_vars]
    if record.toolkit == "ppocr" or record.task == "textline_orientation":
        from generator import imaging
        from generator.ocr import load_ocr_model

        ocr_feed, _ = load_ocr_model(deploy).sample_feed(imaging.decode_bytes(image))
        return {names[0]: np.asarray(next(iter(ocr_feed.values())))}
    pre = build_preprocess(record.preprocess, record.toolkit)
    feed = make_feed([pre.process_encoded(image)], names)
    return {k: np.asarray(v) for k, v in feed.items()}


def choose_for_service(folder: Path, deploy_file: str, *, requested: str, device: str,
                       thread_num: int, use_mkldnn: bool | None,
                       legacy: tuple[Path, Path] | str | None) -> BackendChoice:
    """Choose the backend of a service folder being generated and install its program.

    `legacy` is the legacy export of the same model ((server, client) folders), or why there
    is none. GPU services keep Paddle (oneDNN is a CPU library)."""
    from generator.runtime.inference.model_files import find_model_files

    server = folder / "serving_server"
    if device != "cpu":
        return BackendChoice(Candidate("paddle", "paddle", False, "pir"), [],
                             f"device {device}")
    kind = find_model_files(server).kind
    folders: dict[str, Path] = {"pir" if kind == "pir_json" else "legacy": server}
    if isinstance(legacy, tuple) and "legacy" not in folders:
        folders["legacy"] = legacy[0]
    onnx_note = ""
    feed = sample_feed(server, folder / deploy_file)
    wants_onnx = requested in ("auto", "onnxruntime") or (
        requested == "openvino" and "legacy" not in folders)
    if wants_onnx and not converter_missing():
        onnx_note = _convert_onnx(server, feed)
        if not onnx_note:
            folders["onnx"] = server
    if requested == "paddle" and use_mkldnn is False:
        return BackendChoice(Candidate("paddle (oneDNN off)", "paddle", False,
                                       next(iter(folders))), [], "--backend paddle, use_mkldnn: false")
    try:
        choice = choose_backend(folders, feed, requested=requested,
                                thread_num=thread_num, allow_onednn=use_mkldnn is not False)
    except ScaffoldConfigError as exc:
        if onnx_note and requested in ("onnxruntime", "openvino"):
            raise ScaffoldConfigError(f"--backend {requested}: {onnx_note}") from exc
        raise
    if choice.chosen.program != "onnx":
        for f in server.glob("model.onnx*"):
            f.unlink()
    if onnx_note:
        for label, name in (("onnxruntime fp32", "onnxruntime"),
                            ("openvino fp32 (ONNX)", "openvino")):
            if requested in ("auto", name) and not (name == "openvino" and "legacy" in folders):
                choice.measured.append(Measured(Candidate(label, name, False, "onnx"),
                                                ProbeResult(failure=onnx_note)))
    install_program(choice.chosen, folders, server, folder / "serving_client",
                    legacy[1] if isinstance(legacy, tuple) else None)
    if isinstance(legacy, str) and requested in ("auto", "openvino"):
        choice.measured.append(Measured(Candidate("legacy program", "openvino", False, "legacy"),
                                        ProbeResult(failure=legacy)))
    unavailable = available_backends()
    for name in ("openvino", "onnxruntime"):
        if unavailable[name] and requested in ("auto", name):
            choice.measured.append(Measured(Candidate(name, name, False, "-"),
                                            ProbeResult(failure=unavailable[name])))
    return choice
