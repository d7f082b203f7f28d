"""What users subclass (Paddle Serving's Python Pipeline API): `Op`, `RequestOp`, `ResponseOp`,
`ChannelData` and auto-batching.

May import: `inference` (lazily, to build an Op's predictor), `proto`, `errors`; never
`executor`, `protocols` or `server`. Import the modules themselves; this face is empty.
"""
