"""PaddleX basic serving's HTTP API (`paddlex --serve`, PaddleX 3.x) as a front door: the
task endpoints (`POST /ocr`, `/object-detection`, `/image-classification`,
`/semantic-segmentation`), their JSON envelope and error codes, and `GET /health`."""
