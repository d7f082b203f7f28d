"""Export: dynamic-graph Paddle model -> static inference model -> Paddle Serving folders.

Public entry points:
    `exporter.export_config` / `exporter.export_built_model` (the `scaffold export` command),
    `native_config.load_native_config` / `native_config.build_model` (the `serving_configs/*.yml` schema),
    `parity.check_parity` (dynamic vs exported outputs).
Paddle is imported lazily, inside the functions that need it.
"""
