"""Suite-wide settings.

`scaffold new` measures the served instances x threads x batch-size sweep by default (about
half a minute per service). Hundreds of tests generate services whose serving configuration
they do not look at, so the suite turns the default off through the CLI's own environment
variable (`SCAFFOLD_SWEEP`, inherited by the `scaffold` subprocesses some tests start); the
sweep's tests ask for it with `--sweep` or unset the variable.
"""

import os

os.environ["SCAFFOLD_SWEEP"] = "0"
