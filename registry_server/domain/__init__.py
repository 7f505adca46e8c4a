"""The rules of the registry, independent of gRPC and of SQL."""
