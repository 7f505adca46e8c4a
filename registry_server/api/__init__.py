"""gRPC edge: protobuf <-> domain conversion, servicer, interceptors."""
