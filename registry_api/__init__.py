"""What the client and the server both speak: the generated gRPC code
(`registry_api.proto`), the hand-written wire format of streamed downloads
(`registry_api.wire`) and the call metadata keys (`registry_api.metadata`).

It lives in neither side's package so that each imports it as a peer: the
server does not reach into the client's modules, and the client (installed
alone by `pip install modelregistry`) carries nothing of the server.
"""
