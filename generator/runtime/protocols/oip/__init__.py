"""The Open Inference Protocol (KServe v2): a model registry independent of the wire
(`models`), its REST (`rest`) and gRPC (`grpc_service`) adapters, the gRPC messages
(`messages`) and tensor conversions (`tensors`)."""
