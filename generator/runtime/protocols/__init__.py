"""The front doors: `http/` (Paddle Serving's HTTP JSON gateway, the pages and the OpenAPI
document), `oip/` (the Open Inference Protocol over REST and gRPC), `paddlex/` (PaddleX basic serving's
task endpoints and `/health`), the gRPC admission guard
(`grpc_guard`) and one status table (`status`) that every protocol maps its errors through.

May import: `proto`, `config`, `errors`, `metrics` and (lazily) `inference`; never `pipeline`,
`executor` or `server`: a protocol is handed callables by the server. This face is empty.
"""
