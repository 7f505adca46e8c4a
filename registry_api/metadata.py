"""The gRPC metadata keys of the registry's calls, shared by client and server.

Keys are lower case because gRPC lower-cases metadata keys on the wire.
"""

from __future__ import annotations

from typing import Final

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb

#: Who made the change, recorded in the audit history. Without a token it is
#: what the caller says; with one, the token's principal wins.
ACTOR: Final = "registry-actor"

#: ``Bearer <token>``; one per call.
AUTHORIZATION: Final = "authorization"

#: ``modelregistry.v1.ModelRegistry``: the service every RPC belongs to.
SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["ModelRegistry"].full_name
