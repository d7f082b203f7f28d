"""Paddle Serving's HTTP front door: the gateway (`gateway`) on uvicorn's httptools connection
(`connection`), a small router (`app`), the JSON <-> `Request`/`Response` mapping
(`pipeline_json`), the pages (`pages`) and the OpenAPI document (`openapi`)."""
