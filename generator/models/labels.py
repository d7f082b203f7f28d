"""Label files shared by the exporter and the services."""

from __future__ import annotations

from pathlib import Path


def read_label_lines(path: str | Path) -> list[str]:
    """One label per non-empty line; PaddleClas `id name` lines keep the name."""
    names = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        head, _, tail = line.partition(" ")
        names.append(tail.strip() if head.isdigit() and tail.strip() else line)
    return names
