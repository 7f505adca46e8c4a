"""The facts about each RPC, read from the service descriptor: one table for
the server and the client.

Whether a call may be retried, whether it only reads, which role it needs and
whether the server runs it on its read pool are options on each method in
``protos/modelregistry/v1/registry.proto``: the standard
``idempotency_level`` and the package's own ``rpc_policy`` (``RpcPolicy``).
Nothing here is typed in by hand, so a new RPC brings its facts with it and
no list elsewhere can fall behind the contract.

    >>> from registry_api.rpcs import RPCS
    >>> RPCS["GetModelVersion"].retry_safe, RPCS["GetModelVersion"].role
    (True, 'reader')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb

__all__ = ["ROLES", "RPCS", "RPCS_BY_PATH", "SERVICE", "RpcFacts", "facts_of"]

#: The service every RPC belongs to.
SERVICE: ServiceDescriptor = pb.DESCRIPTOR.services_by_name["ModelRegistry"]

#: Role labels, lowest to highest (``Role`` values without their prefix, in
#: lower case: the spelling the client, the CLI and the server's logs use).
ROLES: tuple[str, ...] = ("none", "reader", "writer", "admin")

_ROLE_PREFIX = "ROLE_"

# The generated .pyi types an extension as a plain FieldDescriptor, which
# ``Extensions[...]`` does not accept as its key type.
_RPC_POLICY: Any = pb.rpc_policy


@dataclass(frozen=True)
class RpcFacts:
    """What the contract says about one RPC."""

    #: The method's name, e.g. ``"GetModelVersion"`` (the stub's attribute).
    name: str
    #: The path on the wire, e.g. ``"/modelregistry.v1.ModelRegistry/GetModelVersion"``.
    full_method: str
    #: The request is a stream of messages.
    client_streaming: bool
    #: The response is a stream of messages.
    server_streaming: bool
    #: Changes nothing (``idempotency_level = NO_SIDE_EFFECTS``).
    read_only: bool
    #: Safe to send again after a lost response or UNAVAILABLE: read-only or
    #: ``IDEMPOTENT``. The RPC's comment gives any condition (e.g.
    #: CreateModelVersion with an idempotency_key).
    retry_safe: bool
    #: The lowest role the call needs, one of ROLES.
    role: str
    #: Only the caller's global role counts (per-model grants do not).
    global_role: bool
    #: The server runs the call on its read pool (registry_server/api/pools.py).
    read_pool: bool


def facts_of(method: MethodDescriptor) -> RpcFacts:
    """The facts of one method, from its options; a method without
    ``rpc_policy`` is an error in the .proto."""
    options = method.GetOptions()
    if not options.HasExtension(_RPC_POLICY):
        raise ValueError(f"{method.full_name} has no rpc_policy option")
    policy: pb.RpcPolicy = options.Extensions[_RPC_POLICY]
    if policy.role == pb.ROLE_UNSPECIFIED:
        raise ValueError(f"{method.full_name}: rpc_policy.role is unspecified")
    level = options.idempotency_level
    read_only = level == MethodOptions.NO_SIDE_EFFECTS
    return RpcFacts(
        name=method.name,
        full_method=f"/{method.containing_service.full_name}/{method.name}",
        client_streaming=method.client_streaming,
        server_streaming=method.server_streaming,
        read_only=read_only,
        retry_safe=read_only or level == MethodOptions.IDEMPOTENT,
        role=pb.Role.Name(policy.role).removeprefix(_ROLE_PREFIX).lower(),
        global_role=policy.global_role,
        read_pool=policy.read_pool,
    )


#: Method name -> facts, in the order of the service definition.
RPCS: Mapping[str, RpcFacts] = MappingProxyType(
    {method.name: facts_of(method) for method in SERVICE.methods}
)

#: ``full_method`` -> facts: what a server interceptor is given.
RPCS_BY_PATH: Mapping[str, RpcFacts] = MappingProxyType(
    {facts.full_method: facts for facts in RPCS.values()}
)
