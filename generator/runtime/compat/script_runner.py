"""Run an existing Paddle Serving service (or client) script unchanged on this runtime.

`run_script(path, args)` is what `scaffold run` does: it activates the `paddle_serving_*`
import hook (`legacy_imports`) and NumPy 1's binary `np.fromstring` (`numpy_legacy`), then runs
the file as `__main__` with `sys.argv = [path, *args]` (`path` absolute, like `__file__`)
and the file's folder first on `sys.path`, as `python path args...` would. The working directory is not changed:
as with Paddle Serving, relative paths in config.yml are relative to where you start it.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from generator.runtime.compat import legacy_imports, numpy_legacy

__all__ = ["ScriptError", "run_script"]


class ScriptError(Exception):
    """The script needs something this runtime does not provide (message says what and where)."""


def _where(exc: BaseException, script: Path) -> str:
    """'web_service.py line 3: ' for the innermost frame of the script itself, else ''."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) == str(script)]
    return f"{script.name} line {frames[-1].lineno}: " if frames else ""


def run_script(path: str | os.PathLike[str], args: Sequence[str] = ()) -> None:
    """Run the Python file `path` as `__main__` with the Paddle Serving compatibility layer.

    Raises ScriptError when the script imports a Paddle Serving name this runtime lacks or
    constructs a reader that cannot work here; other exceptions and SystemExit propagate.
    """
    from generator.runtime.reader.unavailable import ReaderNotAvailableError

    script = Path(os.path.abspath(path))
    legacy_imports.install()
    numpy_legacy.install()
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [str(script), *args]  # runpy sets argv[0] to the path it runs anyway
    sys.path.insert(0, str(script.parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except (legacy_imports.LegacyImportError, ReaderNotAvailableError) as exc:
        raise ScriptError(f"{_where(exc, script)}{exc}") from None
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
