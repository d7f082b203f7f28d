"""Service names: the URL path segment (`/<name>/prediction`) versus the display title."""

from __future__ import annotations

import re

from generator.scaffold.errors import ScaffoldConfigError

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")


def check_name(name: str, option: str = "--name") -> str:
    """`name` when it is a valid service name, else ScaffoldConfigError saying how to fix it.

    A valid name is 1-63 characters of letters, digits, `_`, `-`, `.`, not starting with `.` or
    `-`: it is the HTTP path segment, the Op's log name, a Kubernetes label value and part of the
    default folder name, so nothing in it may need quoting.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ScaffoldConfigError(
            f"{option} {name!r} is not a valid service name: it is the HTTP path segment "
            f"(/<name>/prediction), so use 1-63 letters, digits, '_', '-' or '.', starting with "
            f"a letter, digit or '_' (for example {slugify(str(name))!r})")
    return name


def slugify(text: str) -> str:
    """A valid service name made from any text ("My model v2" -> "My_model_v2")."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-")[:63].rstrip(".-")
    return slug or "model"


def k8s_name(name: str) -> str:
    """A Kubernetes object name (RFC 1123 label) derived from a service name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:50].strip("-")
    return slug or "model"
