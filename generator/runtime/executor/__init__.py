"""How the Op graph runs: the DAG (`dag`), the worker-pool contract and shared helpers (`base`),
thread pools (`threads`), process pools (`processes`), forked whole-server workers (`forked`)
and crash supervision (`supervision`).

May import: `pipeline`, `inference`, `config`, `proto`, `errors`, `metrics`; never `protocols` or
`server`. Import the modules themselves; this face is empty.
"""
