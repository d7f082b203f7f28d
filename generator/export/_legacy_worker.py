"""Worker for `--model_format legacy`: runs with FLAGS_enable_pir_api=0 set before paddle loads.

Reads a JSON request on stdin (config path, overrides, options), rebuilds the model and exports
it; prints one marker line with the JSON result or error on stdout.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    """Run one legacy export request from stdin."""
    os.environ["FLAGS_enable_pir_api"] = "0"
    from generator.export.errors import ExportError
    from generator.export.exporter import ERROR_MARKER, RESULT_MARKER, export_config

    request = json.loads(sys.stdin.read())
    try:
        result = export_config(
            request["config_path"], request["output_dir"], request["overrides"],
            model_format="legacy", fixed_input_shape=request["fixed_input_shape"],
            export_serving_model=request["export_serving_model"], verify=request["verify"],
            rtol=request["rtol"], atol=request["atol"],
        )
    except ExportError as exc:
        print(ERROR_MARKER + json.dumps({"type": type(exc).__name__, "message": str(exc)}),
              flush=True)
        return exc.exit_code
    print(RESULT_MARKER + json.dumps(result.to_json()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
