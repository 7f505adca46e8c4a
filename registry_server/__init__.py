"""The model registry server: gRPC API, domain rules and storage."""
