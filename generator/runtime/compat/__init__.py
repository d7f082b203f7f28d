"""Paddle Serving 0.9 name shims behind `scaffold run`: the import hook that resolves
`paddle_serving_*` names (`legacy_imports`), the script runner, NumPy 1.x aliases and the small
`paddle_serving_app.utils` / `paddle_serving_client.utils` ports.

Statically imports only `reader` and its siblings; `legacy_imports` resolves the rest of
`generator.runtime` through module-name strings at run time. This face is empty.
"""
