"""`scaffold new` / `scaffold bench --configs`: the serving configuration of a service chosen by
measuring SERVED throughput on this machine.

Candidates are model instances x threads per instance x batch size (instances x threads never
more than the cores), several instances as processes and, where every model's backend releases
the GIL (ONNX Runtime, OpenVINO), also as threads: decoding and pre/post-processing run in
Python, so processes can win even then (measured: a two-stage OCR service). A service with
several model Ops (OCR) gets each candidate on every model Op, batch size 1 only (its
recognition batches the crops of one page itself). Every candidate is the service itself (its
`web_service.py`, its model folders) started with that `op.<name>` variant of its config.yml,
all at once; then, in interleaved rounds, each gets a short window of closed-loop load of one
sample image (`clients` concurrent requests, half over gRPC and half over HTTP:
`quality.mixed_load`). `decide` picks the winner: among the
candidates without errors whose median p50 is within the latency bound, a candidate replaces the
current best only when its throughput beats the best's by `margin` in the median of the
per-round ratios and it lost at most one round — so noise does not flip the choice (five short
rounds: one bad stretch of the machine spoils one round, not the median).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: load of one probe window: concurrent clients and seconds
CLIENTS = 16
WINDOW_S = 1.0
#: the timed windows of all candidates together, s: with more candidates (more cores) each
#: window is shorter, so the sweep stays under a minute
MEASURE_BUDGET_S = 30.0
ROUNDS = 5
#: untimed load on each candidate before the rounds (connections, oneDNN kernels, batching)
WARM_S = 0.5
#: a candidate must beat the current best by this fraction (median of per-round ratios)
MARGIN = 0.10
#: p50 latency bound of the probe, ms
LATENCY_BOUND_MS = 1000.0
#: `scaffold new` skips the sweep for a model slower than this per image (batch-1 median of
#: the chosen backend): it keeps the cores busy from one instance, and 16 clients' windows
#: would take minutes (the default YOLOv3 at 608x608, ~350 ms: 9 min)
HEAVY_MS = 50.0


@dataclass(frozen=True, order=True)
class ServingCandidate:
    """One serving configuration of the model Op."""

    instances: int
    threads: int
    batch_size: int
    worker_kind: str = "auto"  # op.*.worker_kind: auto, thread or process

    @property
    def label(self) -> str:
        kind = {"thread": " (threads)", "process": " (processes)"}.get(self.worker_kind, "")
        return f"{self.instances} inst x {self.threads} thr{kind}, batch {self.batch_size}"


@dataclass
class Sample:
    """One probe window of one candidate."""

    ips: float
    p50_ms: float
    errors: int = 0


@dataclass
class SweepResult:
    chosen: ServingCandidate
    samples: dict[ServingCandidate, list[Sample]] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0  # wall time of the whole sweep (start, rounds, stop)
    op_names: list[str] = field(default_factory=list)  # the model Ops each candidate set

    def rows(self) -> list[str]:
        lines = []
        for cand, runs in self.samples.items():
            mark = "*" if cand == self.chosen else " "
            ips = statistics.mean(s.ips for s in runs) if runs else float("nan")
            p50 = statistics.median(s.p50_ms for s in runs) if runs else float("nan")
            errs = sum(s.errors for s in runs)
            lines.append(f"{mark} {cand.label:<40} {ips:8.1f} req/s  p50 {p50:7.1f} ms"
                         + (f"  {errs} errors" if errs else ""))
        return lines

    def table(self) -> str:
        return "\n".join([f"serving: {self.chosen.label} ({self.reason}; measured in "
                          f"{self.seconds:.0f} s)", *self.rows()])


def candidates(cores: int, batch_sizes: tuple[int, ...] = (1, 4),
               kinds: tuple[str, ...] = ("process",)) -> list[ServingCandidate]:
    """1, 2 and 4 instances (at most `cores`), each with an equal share of the cores as its
    threads, x `batch_sizes`, several instances as each of `kinds`; the first one is the
    baseline: one instance on every core (`worker_kind: auto`)."""
    cores = max(1, cores)
    return [ServingCandidate(i, max(1, cores // i), b, "auto" if i == 1 else k)
            for i in (1, 2, 4) if i <= cores for k in (kinds if i > 1 else ("auto",))
            for b in batch_sizes]


def decide(samples: dict[ServingCandidate, list[Sample]], *, latency_bound_ms: float,
           margin: float = MARGIN) -> tuple[ServingCandidate, str]:
    """The winner of interleaved rounds (the first candidate is the incumbent): a candidate
    qualifies with no errors and median p50 <= `latency_bound_ms`; it replaces the best when
    the median over rounds of (its images/s / the best's) is >= 1 + `margin` and it was
    slower than the best in at most one round."""
    order = list(samples)
    if not order:
        raise ValueError("no candidate was measured")

    def qualifies(c: ServingCandidate) -> bool:
        runs = samples[c]
        return bool(runs) and not any(s.errors for s in runs) and \
            statistics.median(s.p50_ms for s in runs) <= latency_bound_ms

    best = order[0]
    for cand in order[1:]:
        if not qualifies(cand):
            continue
        if not qualifies(best):
            best = cand
            continue
        ratios = [a.ips / b.ips for a, b in zip(samples[cand], samples[best], strict=False)
                  if b.ips > 0]
        if ratios and statistics.median(ratios) >= 1 + margin \
                and sum(r < 1 for r in ratios) <= 1:
            best = cand
    if not qualifies(best):
        return order[0], "no candidate met the bounds; kept the baseline"
    if best == order[0]:
        return best, f"no candidate beat the baseline by {margin:.0%}"
    ratio = statistics.mean(s.ips for s in samples[best]) / max(
        1e-9, statistics.mean(s.ips for s in samples[order[0]]))
    return best, f"{ratio:.2f}x the baseline's served requests/s"


def model_ops(conf: dict) -> list[str]:
    """The Ops of a config.yml mapping that run a local model, in graph order."""
    return [n for n, o in conf["op"].items()
            if (o.get("local_service_conf") or {}).get("model_config")]


def op_variant(conf: dict, op_names: list[str], cand: ServingCandidate, rpc: int,
               http: int) -> dict:
    """`conf` (a config.yml mapping) with the model Ops set to `cand`, the ports changed."""
    out = json.loads(json.dumps(conf))
    out["rpc_port"], out["http_port"] = rpc, http
    for name in op_names:
        op = out["op"][name]
        op["concurrency"] = cand.instances
        op["worker_kind"] = cand.worker_kind
        op["batch_size"] = cand.batch_size
        op["local_service_conf"]["thread_num"] = cand.threads
        # the backend was probed when it was chosen; a crash here only drops the candidate
        op["local_service_conf"]["startup_probe"] = False
    return out


def write_choice(config_file: Path, op_names: list[str], result: SweepResult) -> None:
    """Set the chosen keys of each model Op in config.yml (in place, comments kept), the
    figures as a comment above the first."""
    for n, name in enumerate(op_names):
        _write_op_choice(config_file, name, result, comment=n == 0)


def _write_op_choice(config_file: Path, op_name: str, result: SweepResult,
                     comment: bool) -> None:
    text = config_file.read_text(encoding="utf-8")
    lines = text.splitlines()
    c = result.chosen
    values = {"concurrency": c.instances, "batch_size": c.batch_size, "thread_num": c.threads,
              "worker_kind": c.worker_kind}
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{op_name}:")
    indent = len(lines[start]) - len(lines[start].lstrip()) + 2
    seen = set()
    for i in range(start + 1, len(lines)):
        stripped = lines[i].lstrip()
        if lines[i].strip() and len(lines[i]) - len(stripped) < indent:
            break
        key = stripped.split(":", 1)[0]
        if key in values and not stripped.startswith("#"):
            lines[i] = lines[i][: len(lines[i]) - len(stripped)] + f"{key}: {values[key]}"
            seen.add(key)
    if "worker_kind" not in seen:
        lines.insert(start + 1, " " * indent + f"worker_kind: {c.worker_kind}")
    if comment:
        lines[start + 1:start + 1] = [
            " " * indent + "# " + line for line in
            ["serving configuration chosen by measurement on the machine that generated it "
             f"(served requests/s, {CLIENTS} clients: half gRPC, half HTTP; every model Op):",
             *result.rows()]]
    new = "\n".join(lines) + ("\n" if text.endswith("\n") else "")
    yaml.safe_load(new)  # still valid YAML
    config_file.write_text(new, encoding="utf-8")


def _probe(target: tuple, image: bytes, clients: int, seconds: float) -> Sample:
    """One window of mixed gRPC + HTTP load on a candidate (`target`: rpc port, http port,
    service name; the services are child processes, so this client does not share their
    interpreter); a failed window is an error."""
    from generator.quality.mixed_load import mixed_window

    try:
        w = mixed_window(*target, image, clients, seconds)
    except Exception:  # noqa: BLE001 - e.g. the candidate died: it cannot win
        return Sample(0.0, float("inf"), errors=1)
    return Sample(w.rps, w.p50_ms, w.errors)


def window_for(candidates: int, rounds: int) -> float:
    """Seconds of one timed window: WINDOW_S, shortened so that all the candidates' rounds fit
    MEASURE_BUDGET_S (10 candidates on 16 cores: 0.6 s)."""
    return min(WINDOW_S, MEASURE_BUDGET_S / max(1, candidates * rounds))


def _space(conf: dict, op_names: list[str], service: Path | None = None) -> dict:
    """Batch sizes and kinds of several instances to try for this service's model Ops."""
    from generator.runtime.inference.backends.base import RELEASES_GIL

    locals_ = [conf["op"][n]["local_service_conf"] for n in op_names]
    backends = [local.get("backend") or "paddle" for local in locals_]
    kinds = ("thread", "process") if all(RELEASES_GIL.get(b) for b in backends) \
        else ("process",)
    single = len(op_names) > 1 or (service is not None and any(
        b != "paddle" and _onnx_max_batch(service / local["model_config"]) == 1
        for b, local in zip(backends, locals_, strict=True)))
    return {"batch_sizes": (1,) if single else (1, 4), "kinds": kinds}


def _onnx_max_batch(model_dir: Path) -> int | None:
    """The most rows the model's ONNX conversion takes (1 where paddle2onnx converted
    multiclass_nms3 for batch 1), None when unknown; larger batches are run one by one."""
    from generator.runtime.inference.backends.onnx_names import ONNX_FILENAME, read_name_mapping

    path = model_dir / ONNX_FILENAME
    if not path.is_file():
        return None
    try:
        import onnx

        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False)
                .metadata_props}
    except Exception:  # noqa: BLE001 - unreadable here: the candidates will tell
        return None
    mapping = read_name_mapping(meta)
    return mapping.max_batch_size if mapping else None


def sweep_service(service_dir: Path, image: bytes, *, cores: int | None = None,
                  rounds: int = ROUNDS, window_s: float | None = None, clients: int = CLIENTS,
                  latency_bound_ms: float = LATENCY_BOUND_MS,
                  cands: list[ServingCandidate] | None = None) -> SweepResult:
    """Start every candidate of the service in `service_dir`, measure them in interleaved
    rounds and decide (see module doc). The service folder is not changed."""
    from generator.quality.service_dir import open_service_dir, start_service, stop_service
    from generator.runtime.config.loader import pick_free_port

    sd = open_service_dir(service_dir)
    conf = yaml.safe_load((sd.path / "config.yml").read_text(encoding="utf-8"))
    op_names = model_ops(conf)
    cands = cands or candidates(cores or os.cpu_count() or 1,
                                **_space(conf, op_names, sd.path))
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=".sweep-", dir=sd.path.parent))
    procs: dict[ServingCandidate, tuple] = {}
    errors: list[str] = []
    try:
        used: list[int] = []
        dirs = {}
        for n, cand in enumerate(cands):
            d = work / f"c{n}"
            d.mkdir()
            for entry in sd.path.iterdir():
                if entry.name == "config.yml" or entry.name.startswith("."):
                    continue
                if entry.suffix == ".py":  # web_service.py finds config.yml next to itself
                    shutil.copy2(entry, d / entry.name)
                else:
                    (d / entry.name).symlink_to(entry.resolve())
            rpc = pick_free_port(exclude=used)
            http = pick_free_port(exclude=[*used, rpc])
            used += [rpc, http]
            (d / "config.yml").write_text(yaml.safe_dump(op_variant(conf, op_names, cand, rpc,
                                                                    http)))
            dirs[cand] = d

        def start(cand: ServingCandidate) -> None:
            try:
                csd = open_service_dir(dirs[cand])
                procs[cand] = (start_service(csd), (csd.rpc_port, csd.http_port, csd.name))
            except Exception as exc:  # noqa: BLE001 - a candidate that cannot start is dropped
                errors.append(f"{cand.label}: {exc}")

        threads = [threading.Thread(target=start, args=(c,)) for c in cands]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        live = [c for c in cands if c in procs]
        if not live:
            raise RuntimeError("no serving candidate started: " + "; ".join(errors)[:2000])
        samples: dict[ServingCandidate, list[Sample]] = {c: [] for c in live}
        window = window_s or window_for(len(live), rounds)
        for c in live:
            _probe(procs[c][1], image, clients, WARM_S)
        for _ in range(rounds):
            for c in live:
                samples[c].append(_probe(procs[c][1], image, clients, window))
    finally:
        stoppers = [threading.Thread(target=stop_service, args=(proc,))
                    for proc, _ in procs.values()]
        for t in stoppers:  # all drain at once
            t.start()
        for t in stoppers:
            t.join()
        shutil.rmtree(work, ignore_errors=True)
    chosen, reason = decide(samples, latency_bound_ms=latency_bound_ms)
    return SweepResult(chosen, samples, reason, time.monotonic() - began, op_names)


def sweep_into(plan: Any, folder: Path) -> SweepResult | None:
    """`scaffold new`: sweep the service just written in `folder` and write the winner into
    its config.yml; CPU services only (`plan`: the ServicePlan). A sweep that measures nothing leaves the
    defaults and a warning (`plan.sweep_warning`)."""
    from generator.quality.samples import generated_images, text_page
    from generator.quality.service_dir import ServiceDirError

    if plan.settings.device != "cpu":
        return None
    choices = getattr(plan.backend, "choices", None) or {"model": plan.backend}
    slowest = max((c.chosen_s for c in choices.values() if getattr(c, "chosen_s", None)),
                  default=0.0)
    if slowest * 1000 > HEAVY_MS:
        plan.sweep_note = (
            f"serving sweep skipped: the model takes {slowest * 1000:.0f} ms an image on this "
            f"machine (over {HEAVY_MS:.0f} ms), so one instance keeps the cores busy and the "
            "sweep would take minutes; config.yml keeps the default serving configuration. "
            "Measure it anyway with `scaffold bench --configs`")
        return None
    sample = text_page() if plan.task == "ocr" else next(iter(generated_images(1).values()))
    try:
        result = sweep_service(folder, sample)
    except (ServiceDirError, RuntimeError) as exc:
        plan.sweep_warning = (f"the serving sweep measured nothing ({exc}); config.yml keeps "
                              "the default serving configuration. Check the service with "
                              "`scaffold verify`, and re-measure with `scaffold bench --configs`")
        return None
    write_choice(folder / "config.yml", result.op_names, result)
    return result
