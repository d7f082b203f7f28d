"""The import graph of `generator/`: no circle anywhere, and imports only point down the layering
drawn in `generator/runtime/README.md`; each runtime sub-package imports in a fresh interpreter.

The graph is read with `ast` (no import runs): every `import` statement counts, including those
inside functions and under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: `generator/` packages, bottom first: a module may import its own package or a lower layer.
GENERATOR_LAYERS: list[set[str]] = [
    {"generator", "suggest", "yaml_file", "imaging"},  # "generator": the root package (__version__)
    {"models", "preprocess", "serving_model"},
    {"ppdet", "toolkit"},
    {"runtime"},
    {"export", "ocr"},
    {"service"},
    {"quality"},
    {"scaffold"},
    {"commands"},
    {"cli"},
]
#: `generator/runtime/` sub-packages and top-level modules, bottom first ("" is the package face).
RUNTIME_LAYERS: list[set[str]] = [
    {"errors", "metrics", "logs"},
    {"reader"},
    {"config", "proto"},
    {"inference"},
    {"pipeline"},
    {"executor", "protocols"},
    {"client"},
    {"server", "compat"},
    {"web_service"},
    {""},
]
RUNTIME_SUBPACKAGES = ["config", "inference", "inference.backends", "pipeline", "executor",
                       "protocols", "protocols.http", "protocols.oip", "protocols.paddlex",
                       "server", "compat", "proto", "reader"]


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """module -> the modules of the same tree it imports (absolute imports only)."""
    base = package_dir.parent
    modules = {".".join(p.relative_to(base).with_suffix("").parts).removesuffix(".__init__"): p
               for p in package_dir.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                names = [n for n in subs if n in modules] or [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            graph[module] |= {n for n in names if n in modules and n != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _unit(module: str, runtime: bool) -> str | None:
    """The layer unit of a module: its `generator` package, or its runtime sub-package."""
    parts = module.split(".")[1:]
    if not runtime:
        return parts[0] if parts else "generator"
    if parts[:1] != ["runtime"]:
        return None
    return parts[1] if len(parts) > 1 else ""


def upward_imports(graph: dict[str, set[str]], layers: list[set[str]], runtime: bool) -> list[str]:
    """Imports that point to a higher layer, or across two units of the same layer."""
    rank = {unit: i for i, layer in enumerate(layers) for unit in layer}
    bad = []
    for module, targets in sorted(graph.items()):
        src = _unit(module, runtime)
        if src is None:
            continue
        for target in sorted(targets):
            dst = _unit(target, runtime)
            if dst is None or dst == src:
                continue
            if src not in rank or dst not in rank:
                bad.append(f"{module} -> {target}: {src or dst!r} has no layer; add it to the table")
            elif rank[dst] >= rank[src]:
                bad.append(f"{module} -> {target}: {src or '(runtime face)'} may not import "
                           f"{dst or '(runtime face)'}")
    return bad


def test_no_import_circle_in_generator():
    graph = import_graph(ROOT / "generator")
    assert circles(graph) == []


def test_imports_point_down_the_layers():
    graph = import_graph(ROOT / "generator")
    assert upward_imports(graph, GENERATOR_LAYERS, runtime=False) == []
    assert upward_imports(graph, RUNTIME_LAYERS, runtime=True) == []


def test_every_package_has_a_layer():
    packages = {p.name for p in (ROOT / "generator").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in (ROOT / "generator").glob("*.py") if p.stem not in
                 ("__init__", "__main__")}
    layered = set().union(*GENERATOR_LAYERS)
    assert packages - layered == set()
    runtime = ROOT / "generator" / "runtime"
    units = {p.name for p in runtime.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    units |= {p.stem for p in runtime.glob("*.py") if p.stem != "__init__"}
    assert units - set().union(*RUNTIME_LAYERS) == set()


def test_the_checks_find_a_planted_circle_and_an_upward_import(tmp_path):
    pkg = tmp_path / "generator"
    for sub in ("runtime", "runtime/inference", "runtime/server", "export"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "runtime" / "inference" / "a.py").write_text(
        "def f():\n    from generator.runtime.inference import b\n")
    (pkg / "runtime" / "inference" / "b.py").write_text("import generator.runtime.inference.a\n")
    (pkg / "runtime" / "inference" / "c.py").write_text(
        "from generator.runtime.server import main\nfrom generator.export import x\n")
    (pkg / "runtime" / "server" / "main.py").write_text("")
    (pkg / "export" / "x.py").write_text("")
    graph = import_graph(pkg)
    assert circles(graph) == [["generator.runtime.inference.a", "generator.runtime.inference.b"]]
    assert upward_imports(graph, GENERATOR_LAYERS, runtime=False) == [
        "generator.runtime.inference.c -> generator.export.x: runtime may not import export"]
    assert upward_imports(graph, RUNTIME_LAYERS, runtime=True) == [
        "generator.runtime.inference.c -> generator.runtime.server.main: inference may not "
        "import server"]


@pytest.mark.parametrize("name", RUNTIME_SUBPACKAGES)
def test_runtime_subpackage_imports_in_a_fresh_interpreter(name):
    module = f"generator.runtime.{name}"
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"import {module} failed:\n{proc.stderr[-3000:]}"
