"""Render the service templates: one Jinja2 environment, `StrictUndefined`, and filters that
escape a value for the kind of file it lands in.

Filters: `py` (a Python literal), `yaml` (a one-line YAML scalar or flow value), `sh` (one shell
word), `json` (a JSON value; also a Dockerfile `LABEL` value), `md` (Markdown text), `oneline`
(text safe in a `#` comment). Global: `doc(key)`, the one-line meaning of a config.yml key
(`generator.runtime.config.KEY_DOCS`).

Templates are looked up in `$SCAFFOLD_TEMPLATES`, `<repo>/templates` (source checkout or
editable install), `generator/_templates` (package data) and `<prefix>/share/
paddle-serving-scaffold/templates` (wheel `data_files`), in that order.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from generator.runtime.config import KEY_DOCS
from generator.scaffold.errors import ScaffoldError

#: output path in the service folder -> template path under `templates/`
SERVICE_TEMPLATES: dict[str, str] = {
    "config.yml": "service/config.yml.j2",
    "web_service.py": "service/web_service.py.j2",
    "pipeline_http_client.py": "service/pipeline_http_client.py.j2",
    "pipeline_rpc_client.py": "service/pipeline_rpc_client.py.j2",
    "infer.py": "service/infer.py.j2",
    "requirements.txt": "service/requirements.txt.j2",
    "Dockerfile": "service/Dockerfile.j2",
    ".dockerignore": "service/dockerignore.j2",
    "k8s/deployment.yaml": "service/k8s/deployment.yaml.j2",
    "k8s/service.yaml": "service/k8s/service.yaml.j2",
    "k8s/hpa.yaml": "service/k8s/hpa.yaml.j2",
    "k8s/inferenceservice.yaml": "service/k8s/inferenceservice.yaml.j2",
    "README.md": "service/README.md.j2",
    "vendor/README.txt": "service/vendor/README.txt.j2",
}

#: the two-stage OCR service: its own service, config, README and in-process runner; the rest
#: (clients, Docker, Kubernetes) as for every service
OCR_TEMPLATES: dict[str, str] = {
    **SERVICE_TEMPLATES,
    "config.yml": "service/ocr/config.yml.j2",
    "web_service.py": "service/ocr/web_service.py.j2",
    "infer.py": "service/ocr/infer.py.j2",
    "README.md": "service/ocr/README.md.j2",
}

_MARKER = "service/web_service.py.j2"


def template_dirs() -> list[Path]:
    """Candidate template folders, in lookup order (existing ones only)."""
    here = Path(__file__).resolve()
    candidates = []
    if os.environ.get("SCAFFOLD_TEMPLATES"):
        candidates.append(Path(os.environ["SCAFFOLD_TEMPLATES"]))
    candidates += [
        here.parents[2] / "templates",
        here.parents[1] / "_templates",
        Path(sys.prefix) / "share" / "paddle-serving-scaffold" / "templates",
    ]
    return [d for d in candidates if (d / _MARKER).is_file()]


def find_templates_dir() -> Path:
    """The first folder holding the service templates, or ScaffoldError listing where it looked."""
    found = template_dirs()
    if not found:
        here = Path(__file__).resolve()
        raise ScaffoldError(
            "the service templates are not installed: looked for "
            f"{_MARKER} under $SCAFFOLD_TEMPLATES, {here.parents[2] / 'templates'}, "
            f"{here.parents[1] / '_templates'} and "
            f"{Path(sys.prefix) / 'share' / 'paddle-serving-scaffold' / 'templates'}; reinstall "
            "paddle-serving-scaffold or set SCAFFOLD_TEMPLATES to the repository's templates/")
    return found[0]


# ------------------------------------------------------------------ escaping filters


def _check_literal(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot render the non-finite number {value!r}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_literal(k)
            _check_literal(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _check_literal(v)
    elif not isinstance(value, str | int | float | bool | type(None)):
        raise TypeError(f"cannot render a {type(value).__name__} as a literal: {value!r}")
    return value


def _py_str(text: str) -> str:
    """A string literal in `ruff format`'s style: double quotes unless that needs more
    escapes than single quotes."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:  # no quote inside: double quotes
        literal = '"' + literal[1:-1] + '"'
    return literal


def _py(value: Any) -> str:
    if isinstance(value, str):
        return _py_str(value)
    if isinstance(value, list | tuple):
        items = ", ".join(_py(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else \
            f"({items}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def py_literal(value: Any) -> str:
    """A Python literal that evaluates to `value` (str, numbers, bool, None, lists, dicts),
    quoted as `ruff format` writes it."""
    if isinstance(value, Path):
        value = str(value)
    return _py(_check_literal(value))


def yaml_value(value: Any) -> str:
    """`value` as a YAML scalar or flow collection on one line."""
    if isinstance(value, Path):
        value = str(value)
    text = yaml.safe_dump(_check_literal(value), default_flow_style=True, width=math.inf,
                          allow_unicode=True, sort_keys=False)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")].strip()
    elif text.endswith("..."):
        text = text[:-3].strip()
    if "\n" in text:  # a long string folded by the dumper: fall back to JSON (valid YAML)
        text = json.dumps(value, ensure_ascii=False)
    return text


def sh_word(value: Any) -> str:
    """One shell word."""
    return shlex.quote(str(value))


def json_value(value: Any) -> str:
    """A JSON value (double-quoted strings; also what Dockerfile LABEL/ENV accept)."""
    return json.dumps(_check_literal(value), ensure_ascii=False)


def one_line(value: Any) -> str:
    """Text on a single line (for `#` comments)."""
    return re.sub(r"[\r\n\t\v\f\x00]+", " ", str(value)).strip()


def md_text(value: Any) -> str:
    """Markdown-escaped one-line text."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", one_line(value))


def key_doc(key: str) -> str:
    """The one-line meaning of a config.yml key path (`op.*.concurrency`)."""
    try:
        return one_line(KEY_DOCS[key])
    except KeyError:
        raise ScaffoldError(f"template bug: config.yml key {key!r} has no entry in KEY_DOCS") \
            from None


@lru_cache(maxsize=4)
def _environment(folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(py=py_literal, yaml=yaml_value, sh=sh_word, json=json_value,
                       oneline=one_line, md=md_text)
    env.globals["doc"] = key_doc
    return env


def environment() -> jinja2.Environment:
    """The one Jinja2 environment used for every template."""
    return _environment(str(find_templates_dir()))


def render_service(context: dict[str, Any],
                   templates: dict[str, str] | None = None) -> dict[str, str]:
    """Render every service template (`templates`, default SERVICE_TEMPLATES): {output path:
    text}."""
    env = environment()
    out = {}
    for path, template in (templates or SERVICE_TEMPLATES).items():
        try:
            out[path] = env.get_template(template).render(**context)
        except jinja2.TemplateError as exc:
            raise ScaffoldError(f"rendering {template} failed: {type(exc).__name__}: {exc}") \
                from exc
    return out
