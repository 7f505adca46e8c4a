"""Access control end to end: the authorization matrix, on the real server with
authentication on, called through the public client (which uses the generated
stub, streaming RPCs too).

Every RPC of the service descriptor has a row in `support.access.MATRIX` naming the
role it needs (a new RPC without a row fails here), and runs once per global role
(none, reader, writer, admin) and once without a token, against a prepared model.
Allowed calls must succeed; refused ones must fail with PERMISSION_DENIED naming the
role needed (NOT_FOUND, as for a missing model, to a caller who may not read the
model; UNAUTHENTICATED without a token), and a refused mutation must leave
exactly one `access_denied` event and nothing else. Revoked, expired and unknown
tokens get UNAUTHENTICATED.

Scenarios (protected aliases and stages, per-model grants, the actor recorded) are in
test_access_scenarios.py, tokens in test_access_tokens.py, the server start rules and
the command line tools in test_access_cli.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.access import (
    MATRIX,
    NO_TOKEN,
    RANK,
    ROLES,
    SERVICE_RPCS,
    Prepared,
    assert_denied,
    prepare,
    unique_name,
)
from support.auth import AuthServer

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import NotFound, RegistryClient, Unauthenticated
from registry_server.server import RunningServer

# Refused before the request names a model when the caller can write to no
# model at all (api/uploads.py): PERMISSION_DENIED even for a model it may not
# read (the answer names no model), recorded without a model.
REFUSED_BEFORE_THE_MODEL = {"UploadArtifact"}

# Changes that write no event: files are recorded when finalized; webhook
# administration has no event kinds (domain/webhooks.py).
NOT_RECORDED = {
    "UploadArtifact",
    # A ping is a delivery, not a change.
    "TestWebhook",
}


def test_the_matrix_has_a_row_for_every_rpc_and_only_those() -> None:
    assert sorted(MATRIX) == sorted(SERVICE_RPCS)


@dataclass
class MatrixWorld:
    server: AuthServer
    shared: Prepared  # for calls that must not change anything
    clients: dict[str, tuple[str, RegistryClient]]  # role -> (principal, client)


@pytest.fixture(scope="module")
def matrix(sqlite_auth: AuthServer) -> MatrixWorld:
    clients = {role: sqlite_auth.principal_client(role, "matrix") for role in ROLES}
    clients[NO_TOKEN] = ("", sqlite_auth.client(None))
    return MatrixWorld(sqlite_auth, prepare(sqlite_auth, unique_name("matrix-shared")), clients)


def _snapshot(server: AuthServer, name: str) -> Any:
    """Everything a refused call could have changed, as the admin sees it."""
    admin = server.admin
    model = admin.get_registered_model(name).raw
    versions = [v.raw for v in admin.search_model_versions(f"name = '{name}'")]
    grants = admin.list_model_grants(name)
    tokens = [(t.token_id, t.revocation_timestamp) for t in admin.list_access_tokens()]
    return model, versions, grants, tokens


@pytest.mark.parametrize("role", [*ROLES, NO_TOKEN])
@pytest.mark.parametrize("rpc", SERVICE_RPCS)
def test_authorization_matrix(rpc: str, role: str, matrix: MatrixWorld) -> None:
    row = MATRIX.get(rpc)
    assert row is not None, f"{rpc} has no row in MATRIX: say which role it needs"
    server = matrix.server
    principal, client = matrix.clients[role]
    allowed = role != NO_TOKEN and RANK[role] >= RANK[row.needed]
    if role != NO_TOKEN and not allowed and row.mutation:
        # Refusals are recorded once a minute per principal and model: a
        # principal of its own, so that this one is.
        principal, client = server.principal_client(role, "matrix")
    changes = allowed and row.mutation
    model = prepare(server, unique_name(f"m-{rpc[:20]}")) if changes else matrix.shared
    before = None if changes else _snapshot(server, model.name)
    cursor = server.last_event_id()

    if role == NO_TOKEN:
        with pytest.raises(Unauthenticated, match="bearer token"):
            row.call(client, model)
    elif row.listing:
        assert row.call(client, model) is allowed
    elif allowed:
        row.call(client, model)
    elif role == "none" and row.scope == "model" and rpc not in REFUSED_BEFORE_THE_MODEL:
        # A model it may not read is, to it, a model that does not exist.
        with pytest.raises(
            NotFound, match=f"registered model '{model.name}' not found( and has no history)?$"
        ):
            row.call(client, model)
    else:
        denied = assert_denied(lambda: row.call(client, model), row.needed, principal=principal)
        if row.scope == "global":
            assert "global role" in denied.message

    events = server.admin.list_model_events(after_event_id=cursor, page_size=1000).events
    if changes:
        # Done, and recorded as done by the token's principal, not the claimed actor.
        assert all(e.actor == principal for e in events), events
        assert events or rpc in NOT_RECORDED
        return
    assert _snapshot(server, model.name) == before
    if role != NO_TOKEN and not allowed and row.mutation:
        # The refusal, and only the refusal, is in the history.
        (event,) = events
        assert event.kind == "access_denied"
        assert event.actor == principal
        if row.scope == "global" or rpc in REFUSED_BEFORE_THE_MODEL:
            # Recorded with the name it was for, if any.
            assert event.model_name in ("", model.name, model.name + "-new")
        else:
            assert event.model_name == model.name
        assert event.after["needed"] == row.needed
        assert event.after["role"] == role
        assert event.after["action"]
    else:
        assert events == ()


@pytest.mark.parametrize("credential", ["revoked", "expired", "unknown"])
@pytest.mark.parametrize(
    "rpc", ["GetRegisteredModel", "CreateModelVersion", "DownloadArtifact", "WhoAmI"]
)
def test_revoked_expired_and_unknown_tokens_are_unauthenticated(
    rpc: str, credential: str, matrix: MatrixWorld
) -> None:
    server = matrix.server
    token_id, secret = server.token_with_id(unique_name(f"admin-{credential}"), "admin")
    if credential == "revoked":
        server.tokens.revoke_unchecked(token_id, "test-suite")
        expected = f"access token {token_id} was revoked"
    elif credential == "expired":
        server.expire_token(token_id)
        expected = f"access token {token_id} has expired"
    else:
        secret = "mrt_" + "x" * 43
        expected = "unknown access token"
    cursor = server.last_event_id()
    with pytest.raises(Unauthenticated, match=expected):
        MATRIX[rpc].call(server.client(secret), matrix.shared)
    assert server.admin.list_model_events(after_event_id=cursor).events == ()


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "requires a bearer token"),
        ("Basic cm9vdDpyb290", "expected `Bearer <token>`"),
        ("Bearer ", "expected `Bearer <token>`"),
        ("Bearer not-a-token", "unknown access token"),
    ],
)
def test_calls_without_a_valid_bearer_token_are_unauthenticated(
    sqlite_auth: AuthServer, authorization: str | None, message: str
) -> None:
    metadata = [("registry-actor", "root-admin")]
    if authorization is not None:
        metadata.append(("authorization", authorization))
    with grpc.insecure_channel(sqlite_auth.target) as channel:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.WhoAmI(pb.WhoAmIRequest(), metadata=metadata, timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert message in caught.value.details()
        # Health checks (probes) and reflection need no token.
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_whoami_reports_the_token_principal_and_global_role(matrix: MatrixWorld) -> None:
    for role in ROLES:
        principal, client = matrix.clients[role]
        me = client.whoami()
        assert (me.principal, me.role, me.authentication_required) == (principal, role, True)


def test_without_authentication_everyone_is_an_admin_named_by_registry_actor(
    sqlite_server: RunningServer,
) -> None:
    with RegistryClient(f"127.0.0.1:{sqlite_server.port}", actor="laptop-user") as client:
        me = client.whoami()
    assert (me.principal, me.role, me.authentication_required) == ("laptop-user", "admin", False)
