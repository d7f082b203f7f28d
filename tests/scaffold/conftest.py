"""Session-scoped generated services, one per task kind, built from `serving_configs/` at small
input sizes (shared by the end-to-end, safety and golden-file tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scaffold_helpers import SERVICES, scaffold

from tests.helpers.services import free_port


@pytest.fixture(scope="session")
def services_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def generated(services_root):
    """kind -> (service folder, http_port, rpc_port); generated on first use."""
    cache: dict[str, tuple[Path, int, int]] = {}

    def get(kind: str) -> tuple[Path, int, int]:
        if kind not in cache:
            config, overrides = SERVICES[kind]
            http_port, rpc_port = free_port(), free_port()
            out = services_root / f"{kind}_serving"
            opts = [a for o in overrides for a in ("-o", o)]
            res = scaffold("new", "--config", str(config), *opts, "--output", str(out),
                           "--http-port", str(http_port), "--rpc-port", str(rpc_port))
            assert res.exit_code == 0, res.output
            cache[kind] = (out, http_port, rpc_port)
        return cache[kind]

    return get
