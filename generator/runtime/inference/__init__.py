"""Running a model: `LocalPredictor` and its options, warm-up (its output checks, in Paddle
Serving's prototxt conventions, in `warmup_check`), the model files, device fallback,
the backend probe (`probe`, with its `python -m` child in `probe_child`) and the engines in
`backends/` (Paddle Inference, OpenVINO, ONNX Runtime).

May import: `config`, `proto`, `errors`, `metrics`, `logs`, `generator.serving_model` and
`generator.suggest`; never `pipeline`, `executor`, `protocols` or `server`. Import the modules
themselves; this face is empty on purpose so that importing one backend does not load the others.
"""
