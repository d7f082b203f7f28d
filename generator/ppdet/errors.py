"""Exceptions raised by the PaddleDetection layer (config loading, model building, weights)."""

from __future__ import annotations


class PpdetError(Exception):
    """Base class of every error raised by `generator.ppdet`."""


class PpdetConfigError(PpdetError):
    """A PaddleDetection config file cannot be read, merged or understood."""


class UnsupportedArchitectureError(PpdetError):
    """The config describes an architecture that the built-in builders do not implement."""

    def __init__(self, architecture: str, detail: str = "", config_path: str | None = None):
        self.architecture = architecture
        self.config_path = config_path
        cfg = config_path or "<config.yml>"
        what = f"architecture {architecture!r}"
        if detail:
            what += f" ({detail})"
        super().__init__(
            f"PaddleDetection {what} is not built in: scaffold can rebuild YOLOv3 with the "
            "DarkNet or MobileNet (v1) backbone only.\n"
            "Two ways forward:\n"
            "  1. export it with PaddleDetection's own exporter, then scaffold from the export:\n"
            f"       python tools/export_model.py -c {cfg} -o weights=model_final.pdparams "
            "use_gpu=false --output_dir out\n"
            "       scaffold new --model-dir out/<config name>\n"
            "  2. pass --ppdet-root PATH (a PaddleDetection checkout); scaffold then runs that "
            "exporter itself in a subprocess (with -o use_gpu=false on CPU) and continues "
            "from its output."
        )


class WeightsError(PpdetError):
    """A weights file is missing, unreadable or does not fit the network."""


class WeightsMismatchError(WeightsError):
    """The weights' keys or shapes differ from the network's state_dict.

    Attributes:
        missing: keys the network has but the file lacks.
        unexpected: keys the file has but the network lacks.
        wrong_shape: `(key, file_shape, network_shape)` triples.
    """

    def __init__(
        self,
        path: str,
        missing: list[str],
        unexpected: list[str],
        wrong_shape: list[tuple[str, list[int], list[int]]],
    ):
        self.path = path
        self.missing = missing
        self.unexpected = unexpected
        self.wrong_shape = wrong_shape
        super().__init__(f"weights {path} do not fit the network:\n{self.report()}")

    def report(self, limit: int = 50) -> str:
        """The mismatch, one key per line (at most `limit` lines per kind)."""
        lines: list[str] = []
        for title, items in (
            ("missing in the weights file", [f"  - {k}" for k in self.missing]),
            ("unexpected (not in the network)", [f"  - {k}" for k in self.unexpected]),
            (
                "wrong shape (file vs network)",
                [f"  - {k}: {list(a)} vs {list(b)}" for k, a, b in self.wrong_shape],
            ),
        ):
            if not items:
                continue
            lines.append(f"{title}: {len(items)}")
            lines.extend(items[:limit])
            if len(items) > limit:
                lines.append(f"  ... and {len(items) - limit} more")
        return "\n".join(lines)


class ExporterError(PpdetError):
    """Running PaddleDetection's own `tools/export_model.py` failed."""
