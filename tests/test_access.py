"""Access control end to end: the real server with authentication on, called
through the public client (which uses the generated stub, streaming RPCs too).

* The authorization matrix: every RPC of the service descriptor has a row naming
  the role it needs (a new RPC without a row fails here), and runs once per
  global role (none, reader, writer, admin) and once without a token, against a
  prepared model. Allowed calls must succeed; refused ones must fail with
  PERMISSION_DENIED naming the role needed (UNAUTHENTICATED without a token), and
  a refused mutation must leave exactly one `access_denied` event and nothing
  else. Revoked, expired and unknown tokens get UNAUTHENTICATED.
* Scenarios, on SQLite and PostgreSQL: protected aliases and stages, per-model
  grants (and what they let a principal see in searches, history and lineage),
  the actor recorded in events.
* Tokens: stored as a hash only, expiry, revocation within the 5 s cache.

The server start rules and the command line tools are in test_access_cli.py.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.auth import SPOOFED_ACTOR, AuthServer, auth_server

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import (
    ArtifactFile,
    Dataset,
    Lineage,
    PermissionDenied,
    RegistryClient,
    Unauthenticated,
)
from registry_server import migrate
from registry_server.domain import tokens as token_module
from registry_server.server import RunningServer
from registry_server.store.database import make_engine
from registry_server.store.schema import access_tokens

SERVICE_RPCS = [m.name for m in pb.DESCRIPTOR.services_by_name["ModelRegistry"].methods]
ROLES = ("none", "reader", "writer", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES)}
NO_TOKEN = "no-token"
FILE_BYTES = b"model weights\n" * 64
REVOCATION_SECONDS = 5.0  # what the README and the proto promise


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def sqlite_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("auth-sqlite")
    with auth_server(f"sqlite:///{folder / 'registry.db'}", folder, "sqlite") as server:
        yield server


@pytest.fixture(scope="module")
def pg_auth(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    from support.postgres import temporary_database

    folder = tmp_path_factory.mktemp("auth-pg")
    with temporary_database(pg_server_url, prefix="registry_auth") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        with auth_server(url, folder, "postgresql") as server:
            yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def auth(request: pytest.FixtureRequest) -> AuthServer:
    """The scenario tests run on both backends (grants and visibility are SQL)."""
    return request.getfixturevalue("sqlite_auth" if request.param == "sqlite" else "pg_auth")


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def _denied(call: Callable[[], Any], needed: str, *, principal: str = "") -> PermissionDenied:
    with pytest.raises(PermissionDenied) as caught:
        call()
    assert re.search(rf"needs (the global )?role {needed}\b", caught.value.message), caught.value
    if principal:
        assert repr(principal) in caught.value.message
    return caught.value


# --------------------------------------------------------------------------- a prepared model


@dataclass
class Prepared:
    """A model with something for every RPC to act on:

    v1 READY (external source, run and data set lineage, tag k=v, in Staging, @canary),
    v2 READY with registry-held file weights.bin, v3 PENDING_REGISTRATION with
    weights.bin uploaded; model tag team=risk; a reader grant to `someone-else`;
    a token to revoke.
    """

    name: str
    manifest: list[ArtifactFile]
    token_id: int
    file: Path

    @property
    def run_id(self) -> str:
        return f"run-{self.name}"

    @property
    def digest(self) -> str:
        return f"sha256:{self.name}"


def prepare(server: AuthServer, name: str) -> Prepared:
    admin = server.admin
    file = server.tmp / "weights.bin"
    if not file.exists():
        file.write_bytes(FILE_BYTES)
        (server.tmp / "model").mkdir(exist_ok=True)
        (server.tmp / "model" / "weights.bin").write_bytes(FILE_BYTES)
    admin.create_registered_model(name, tags={"team": "risk"})
    admin.create_model_version(
        name,
        source="s3://bucket/run/1",
        tags={"k": "v"},
        lineage=Lineage(run_id=f"run-{name}", datasets=(Dataset("train", f"sha256:{name}"),)),
    )
    admin.transition_model_version_stage(name, 1, "Staging")
    admin.set_registered_model_alias(name, "canary", 1)
    admin.log_model_version(name, server.tmp / "model")
    admin.create_model_version(name, registry_held_artifacts=True)
    stored = admin.upload_artifact(name, 3, file, "weights.bin")
    admin.set_model_grant(name, "someone-else", "reader")
    token_id, _ = server.token_with_id(f"victim-{name}", "reader")
    return Prepared(name, [stored], token_id, file)


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Row:
    """What an RPC needs. `scope` "global": the role must be the caller's global
    role (per-model grants do not count). `mutation`: a refusal is recorded as an
    `access_denied` event. `listing`: a too-low role is not refused; the results
    leave out what it may not read (`call` then returns whether the model showed)."""

    needed: str
    call: Callable[[RegistryClient, Prepared], Any]
    mutation: bool = False
    scope: str = "model"
    listing: bool = False


MATRIX: dict[str, Row] = {
    # registered models
    "CreateRegisteredModel": Row(
        "writer", lambda c, m: c.create_registered_model(m.name + "-new"), True, "global"
    ),
    "GetRegisteredModel": Row("reader", lambda c, m: c.get_registered_model(m.name)),
    "UpdateRegisteredModel": Row(
        "writer", lambda c, m: c.update_registered_model(m.name, "changed"), True
    ),
    "RenameRegisteredModel": Row(
        "admin", lambda c, m: c.rename_registered_model(m.name, m.name + "-renamed"), True
    ),
    "DeleteRegisteredModel": Row("admin", lambda c, m: c.delete_registered_model(m.name), True),
    "SetRegisteredModelTag": Row(
        "writer", lambda c, m: c.set_registered_model_tag(m.name, "team", "fraud"), True
    ),
    "DeleteRegisteredModelTag": Row(
        "writer", lambda c, m: c.delete_registered_model_tag(m.name, "team"), True
    ),
    "GetLatestVersions": Row("reader", lambda c, m: c.get_latest_versions(m.name)),
    # versions
    "CreateModelVersion": Row(
        "writer", lambda c, m: c.create_model_version(m.name, source="s3://bucket/run/9"), True
    ),
    "GetModelVersion": Row("reader", lambda c, m: c.get_model_version(m.name, 1)),
    "UpdateModelVersion": Row(
        "writer", lambda c, m: c.update_model_version(m.name, 1, "changed"), True
    ),
    "DeleteModelVersion": Row("admin", lambda c, m: c.delete_model_version(m.name, 1), True),
    "TransitionModelVersionStage": Row(
        "writer", lambda c, m: c.transition_model_version_stage(m.name, 1, "Production"), True
    ),
    "SetModelVersionTag": Row(
        "writer", lambda c, m: c.set_model_version_tag(m.name, 1, "k", "w"), True
    ),
    "DeleteModelVersionTag": Row(
        "writer", lambda c, m: c.delete_model_version_tag(m.name, 1, "k"), True
    ),
    # aliases and URIs (unprotected: writers may move them)
    "SetRegisteredModelAlias": Row(
        "writer", lambda c, m: c.set_registered_model_alias(m.name, "canary", 2), True
    ),
    "DeleteRegisteredModelAlias": Row(
        "writer", lambda c, m: c.delete_registered_model_alias(m.name, "canary"), True
    ),
    "GetModelVersionByAlias": Row(
        "reader", lambda c, m: c.get_model_version_by_alias(m.name, "canary")
    ),
    "ResolveModelUri": Row("reader", lambda c, m: c.resolve(f"models:/{m.name}@canary")),
    # search, lineage, history: listings leave out unreadable models
    "SearchRegisteredModels": Row(
        "reader",
        lambda c, m: [r.name for r in c.search_registered_models(f"name = '{m.name}'")] == [m.name],
        listing=True,
    ),
    "SearchModelVersions": Row(
        "reader",
        lambda c, m: len(c.search_model_versions(f"name = '{m.name}'")) == 3,
        listing=True,
    ),
    "FindModelVersionsByRun": Row(
        "reader",
        lambda c, m: [v.name for v in c.find_model_versions_by_run(m.run_id)] == [m.name],
        listing=True,
    ),
    "FindModelVersionsByDataset": Row(
        "reader",
        lambda c, m: [v.name for v in c.find_model_versions_by_dataset(m.digest)] == [m.name],
        listing=True,
    ),
    "GetModelVersionLineage": Row("reader", lambda c, m: c.get_model_version_lineage(m.name, 1)),
    "ListModelEvents": Row("reader", lambda c, m: c.list_model_events(m.name)),
    "GetModelStateAsOf": Row(
        "reader", lambda c, m: c.get_model_state_as_of(m.name, time.time_ns() // 1_000_000)
    ),
    # registry-held files (client and server streams)
    "UploadArtifact": Row(
        "writer", lambda c, m: c.upload_artifact(m.name, 3, m.file, "extra.bin"), True
    ),
    "FinalizeModelVersion": Row(
        "writer", lambda c, m: c.finalize_model_version(m.name, 3, m.manifest), True
    ),
    "AbortModelVersion": Row(
        "writer", lambda c, m: c.abort_model_version(m.name, 3, "given up"), True
    ),
    "ListArtifacts": Row("reader", lambda c, m: c.list_artifacts(m.name, 2)),
    "DownloadArtifact": Row(
        "reader", lambda c, m: c.download_artifact(m.name, 2, "weights.bin", io.BytesIO())
    ),
    "GetArtifactDownloadUrls": Row("reader", lambda c, m: c.get_artifact_download_urls(m.name, 2)),
    # access control
    "SetModelProtection": Row(
        "admin", lambda c, m: c.set_model_protection(m.name, protected_aliases=["canary"]), True
    ),
    "SetModelGrant": Row(
        "admin", lambda c, m: c.set_model_grant(m.name, "ci-team", "writer"), True, "global"
    ),
    "DeleteModelGrant": Row(
        "admin", lambda c, m: c.delete_model_grant(m.name, "someone-else"), True, "global"
    ),
    "ListModelGrants": Row("admin", lambda c, m: c.list_model_grants(m.name)),
    "CreateAccessToken": Row(
        "admin",
        lambda c, m: c.create_access_token(f"new-{m.name}", "reader"),
        True,
        "global",
    ),
    "ListAccessTokens": Row("admin", lambda c, m: c.list_access_tokens(), scope="global"),
    "RevokeAccessToken": Row(
        "admin", lambda c, m: c.revoke_access_token(m.token_id), True, "global"
    ),
    "WhoAmI": Row("none", lambda c, m: c.whoami()),
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
    return MatrixWorld(sqlite_auth, prepare(sqlite_auth, _name("matrix-shared")), clients)


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
    changes = allowed and row.mutation
    model = prepare(server, _name(f"m-{rpc[:20]}")) if changes else matrix.shared
    before = None if changes else _snapshot(server, model.name)
    cursor = server.last_event_id()

    if role == NO_TOKEN:
        with pytest.raises(Unauthenticated, match="bearer token"):
            row.call(client, model)
    elif row.listing:
        assert row.call(client, model) is allowed
    elif allowed:
        row.call(client, model)
    else:
        denied = _denied(lambda: row.call(client, model), row.needed, principal=principal)
        if row.scope == "global":
            assert "global role" in denied.message

    events = server.admin.list_model_events(after_event_id=cursor, page_size=1000).events
    if changes:
        # Done, and recorded as done by the token's principal, not the claimed actor.
        assert all(e.actor == principal for e in events), events
        assert events or rpc == "UploadArtifact"  # files are recorded when finalized
        return
    assert _snapshot(server, model.name) == before
    if role != NO_TOKEN and not allowed and row.mutation:
        # The refusal, and only the refusal, is in the history.
        (event,) = events
        assert event.kind == "access_denied"
        assert event.actor == principal
        assert event.model_name == ("" if row.scope == "global" else model.name)
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
    token_id, secret = server.token_with_id(_name(f"admin-{credential}"), "admin")
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


# --------------------------------------------------------------------------- scenarios


def _model_with_versions(admin: RegistryClient, stem: str, count: int = 2) -> str:
    name = _name(stem)
    admin.create_registered_model(name)
    for i in range(count):
        admin.create_model_version(name, source=f"s3://bucket/{name}/{i}")
    return name


def test_protected_alias_needs_an_admin_of_the_model(auth: AuthServer) -> None:
    admin = auth.admin
    name = _model_with_versions(admin, "protected-alias", 3)
    admin.set_registered_model_alias(name, "champion", 1)
    admin.set_registered_model_alias(name, "canary", 1)
    protected = admin.set_model_protection(name, protected_aliases=["champion"])
    assert list(protected.protected_aliases) == ["champion"]
    writer_name, writer = auth.principal_client("writer", "ci")
    owner_name, owner = auth.principal_client("reader", "owner")
    admin.set_model_grant(name, owner_name, "admin")

    # A writer moves the unprotected alias, not the protected one.
    assert writer.set_registered_model_alias(name, "canary", 2).version == 2
    _denied(lambda: writer.set_registered_model_alias(name, "champion", 2), "admin")
    _denied(lambda: writer.delete_registered_model_alias(name, "champion"), "admin")
    assert admin.get_model_version_by_alias(name, "champion").version == 1
    # Protection holds before the alias exists, too.
    admin.set_model_protection(name, protected_aliases=["champion", "shadow"])
    _denied(lambda: writer.set_registered_model_alias(name, "shadow", 2), "admin")

    # An admin of this model through a grant moves it; so does a global admin.
    assert owner.set_registered_model_alias(name, "champion", 2).version == 2
    assert owner.set_registered_model_alias(name, "shadow", 3).version == 3
    owner.delete_registered_model_alias(name, "shadow")
    assert admin.set_registered_model_alias(name, "champion", 3).version == 3

    # The grant makes `owner` admin of this model only: not of others, not globally.
    other = _model_with_versions(admin, "not-owned", 1)
    _denied(lambda: owner.set_registered_model_alias(other, "canary", 1), "writer")
    _denied(lambda: owner.set_model_grant(name, writer_name, "admin"), "admin")
    assert [g.principal for g in owner.list_model_grants(name)] == [owner_name]
    _denied(lambda: owner.list_model_grants(other), "admin")

    # The model admin may unprotect; then the writer may move it.
    owner.set_model_protection(name, protected_aliases=[])
    assert writer.set_registered_model_alias(name, "champion", 1).version == 1

    denials = [
        e
        for e in admin.list_model_events(name, kinds=["access_denied"]).events
        if e.actor == writer_name
    ]
    assert len(denials) == 3
    assert all(e.after["needed"] == "admin" and e.after["role"] == "writer" for e in denials)
    assert "protected alias" in denials[0].after["action"]


def test_protected_stage_needs_an_admin_of_the_model(auth: AuthServer) -> None:
    admin = auth.admin
    name = _model_with_versions(admin, "protected-stage", 3)
    model = admin.set_model_protection(name, protected_stages=["production"])
    assert list(model.protected_stages) == ["Production"]
    writer_name, writer = auth.principal_client("writer", "ci")
    owner_name, owner = auth.principal_client("none", "owner")
    admin.set_model_grant(name, owner_name, "admin")

    # Unprotected stages are the writer's.
    assert writer.transition_model_version_stage(name, 1, "Staging").current_stage == "Staging"
    assert writer.transition_model_version_stage(name, 2, "Staging").current_stage == "Staging"
    # Into Production: refused, also with archive_existing_versions.
    _denied(lambda: writer.transition_model_version_stage(name, 1, "Production"), "admin")
    _denied(lambda: writer.transition_model_version_stage(name, 1, "Production", True), "admin")
    assert owner.transition_model_version_stage(name, 1, "Production").current_stage == (
        "Production"
    )
    # Out of Production: refused too.
    _denied(lambda: writer.transition_model_version_stage(name, 1, "Archived"), "admin")
    # The model admin promotes v2, archiving v1 (which leaves Production).
    owner.transition_model_version_stage(name, 2, "Production", archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in admin.search_model_versions(f"name = '{name}'")}
    assert stages == {1: "Archived", 2: "Production", 3: "None"}
    # Archiving Staging holders while moving into an unprotected stage stays the writer's.
    writer.transition_model_version_stage(name, 3, "Staging", archive_existing_versions=True)
    events = admin.list_model_events(name, kinds=["access_denied"]).events
    assert [e.actor for e in events] == [writer_name] * 3
    assert all("protected stage Production" in e.after["action"] for e in events)


def test_archiving_into_a_protected_archived_stage_needs_an_admin(
    sqlite_auth: AuthServer,
) -> None:
    admin = sqlite_auth.admin
    name = _model_with_versions(admin, "protected-archive", 2)
    admin.transition_model_version_stage(name, 1, "Staging")
    admin.set_model_protection(name, protected_stages=["Archived"])
    _, writer = sqlite_auth.principal_client("writer", "ci")
    _denied(
        lambda: writer.transition_model_version_stage(name, 2, "Staging", True),
        "admin",
    )


def test_a_grant_raises_the_role_on_one_model_only(auth: AuthServer) -> None:
    admin = auth.admin
    a, b = _name("team-a"), _name("team-b")
    run = _name("shared-run")
    for name in (a, b):
        admin.create_registered_model(name)
    # Lineage across models: a/1 -> b/1 -> a/2, all from the same run.
    admin.create_model_version(a, source="s3://x/a1", run_id=run)
    admin.create_model_version(
        b, source="s3://x/b1", run_id=run, lineage=Lineage(parent_model_uri=f"models:/{a}/1")
    )
    admin.create_model_version(
        a, source="s3://x/a2", run_id=run, lineage=Lineage(parent_model_uri=f"models:/{b}/1")
    )
    ci_name, ci = auth.principal_client("none", "ci-risk")
    cursor = auth.last_event_id()

    # Before the grant: nothing.
    _denied(lambda: ci.create_model_version(a, source="s3://x/a3"), "writer")
    assert list(ci.search_registered_models()) == []
    admin.set_model_grant(a, ci_name, "writer")

    # Writer on a: creates versions, reads it; nothing on b; no new models.
    created = ci.create_model_version(a, source="s3://x/a3", run_id=run)
    assert created.created_by == ci_name
    ci.set_registered_model_alias(a, "candidate", created.version)
    assert ci.get_registered_model(a).name == a
    _denied(lambda: ci.create_model_version(b, source="s3://x/b2"), "writer", principal=ci_name)
    _denied(lambda: ci.get_registered_model(b), "reader")
    _denied(lambda: ci.resolve(f"models:/{b}/1"), "reader")
    _denied(lambda: ci.create_registered_model(_name("new")), "writer")
    # Deriving from a model it cannot read is refused (reader on the parent's model).
    _denied(
        lambda: ci.create_model_version(
            a, source="s3://x/a4", lineage=Lineage(parent_model_uri=f"models:/{b}/1")
        ),
        "reader",
    )

    # Listings show a only.
    assert [m.name for m in ci.search_registered_models()] == [a]
    assert {v.name for v in ci.search_model_versions()} == {a}
    assert {v.name for v in ci.find_model_versions_by_run(run)} == {a}
    assert {v.name for v in admin.find_model_versions_by_run(run)} == {a, b}
    history = ci.list_model_events(after_event_id=cursor, page_size=1000).events
    assert history and {e.model_name for e in history} == {a}
    assert any(e.kind == "alias_set" and e.actor == ci_name for e in history)
    _denied(lambda: ci.list_model_events(b), "reader")

    # Lineage leaves out the linked version in b.
    seen = ci.get_model_version_lineage(a, 1)
    assert [(v.name, v.version) for v in seen.descendants] == [(a, 2)]
    assert [(v.name, v.version) for v in ci.get_model_version_lineage(a, 2).ancestors] == [(a, 1)]
    full = admin.get_model_version_lineage(a, 1)
    assert [(v.name, v.version) for v in full.descendants] == [(b, 1), (a, 2)]

    # Refusals are in b's history, where ci cannot see them.
    refused = admin.list_model_events(b, kinds=["access_denied"]).events
    assert [e.actor for e in refused] == [ci_name]
    assert refused[0].after == {"action": "creating a version", "needed": "writer", "role": "none"}

    # Without the grant, back to nothing.
    admin.delete_model_grant(a, ci_name)
    _denied(lambda: ci.create_model_version(a, source="s3://x/a5"), "writer")
    assert list(ci.search_registered_models()) == []


def test_a_grant_on_a_new_model_does_not_open_a_deleted_models_history(
    auth: AuthServer,
) -> None:
    """SQLite reuses the id of the last model deleted: a grant on the model that
    gets it must not reveal the deleted model's events."""
    admin = auth.admin
    gone = _name("deleted-secret")
    admin.create_registered_model(gone, description="confidential")
    admin.set_registered_model_tag(gone, "k", "confidential")
    with auth.running.database.read() as conn:
        gone_id = conn.execute(sa.text(f"SELECT id FROM registered_models WHERE name = '{gone}'"))
        gone_id = gone_id.scalar_one()
    admin.delete_registered_model(gone)
    public = _name("public")
    admin.create_registered_model(public)
    with auth.running.database.read() as conn:
        public_id = conn.execute(
            sa.text(f"SELECT id FROM registered_models WHERE name = '{public}'")
        ).scalar_one()
    if auth.backend == "sqlite":
        assert public_id == gone_id, "the id was not reused: this test tests nothing"
    ci_name, ci = auth.principal_client("none", "ci")
    admin.set_model_grant(public, ci_name, "admin")

    assert {e.model_name for e in ci.list_model_events(page_size=1000).events} == {public}
    _denied(lambda: ci.list_model_events(gone), "reader")
    _denied(lambda: ci.get_model_state_as_of(gone, time.time_ns() // 1_000_000), "reader")
    # Global readers still read a deleted model's history.
    _, reader = auth.principal_client("reader", "auditor")
    assert reader.list_model_events(gone).events[-1].kind == "model_deleted"


def test_events_record_the_token_principal_not_the_claimed_actor(auth: AuthServer) -> None:
    principal, writer = auth.principal_client("writer", "ci")
    assert writer.actor == SPOOFED_ACTOR
    name = _name("actor")
    writer.create_registered_model(name)
    version = writer.create_model_version(name, source="s3://x/1")
    writer.set_registered_model_alias(name, "candidate", version.version)
    events = auth.admin.list_model_events(name).events
    assert [e.kind for e in events] == ["model_created", "version_created", "alias_set"]
    assert {e.actor for e in events} == {principal}
    assert auth.admin.get_registered_model(name).created_by == principal
    assert version.created_by == principal


def test_refused_reads_are_not_recorded(auth: AuthServer) -> None:
    admin = auth.admin
    name = _model_with_versions(admin, "quiet", 1)
    _, nobody = auth.principal_client("none", "nobody")
    cursor = auth.last_event_id()
    _denied(lambda: nobody.get_registered_model(name), "reader")
    _denied(lambda: nobody.list_model_grants(name), "admin")
    _denied(lambda: nobody.list_access_tokens(), "admin")
    assert admin.list_model_events(after_event_id=cursor).events == ()
    _denied(lambda: nobody.set_registered_model_tag(name, "k", "v"), "writer")
    (event,) = admin.list_model_events(after_event_id=cursor).events
    assert (event.kind, event.model_name) == ("access_denied", name)
    assert event.after == {"action": "setting a tag", "needed": "writer", "role": "none"}


# --------------------------------------------------------------------------- tokens


def test_tokens_are_stored_hashed_and_listed_without_secrets(sqlite_auth: AuthServer) -> None:
    admin = sqlite_auth.admin
    principal = _name("deployer")
    cursor = sqlite_auth.last_event_id()
    created = admin.create_access_token(principal, "reader", description="prod deploys")
    secret = created.secret
    assert secret.startswith(token_module.TOKEN_PREFIX) and len(secret) >= 40
    assert created.token.prefix == secret[: len(created.token.prefix)]
    assert len(created.token.prefix) < len(secret) // 2
    assert (created.token.principal, created.token.role) == (principal, "reader")
    assert created.token.created_by == "root-admin"
    with sqlite_auth.running.database.read() as conn:
        (row,) = conn.execute(
            sa.select(access_tokens).where(access_tokens.c.id == created.token.token_id)
        ).all()
        everything = conn.execute(sa.select(access_tokens)).all()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) for r in everything for value in r)
    assert not any(secret[len(row.prefix) :] in str(value) for value in row)

    listed = {t.token_id: t for t in admin.list_access_tokens()}
    assert listed[created.token.token_id].prefix == created.token.prefix
    assert secret not in str(admin.list_access_tokens()[0].raw)

    # The secret authenticates as the principal; the creation is in the history.
    me = sqlite_auth.client(secret).whoami()
    assert (me.principal, me.role) == (principal, "reader")
    (event,) = admin.list_model_events(after_event_id=cursor).events
    assert (event.kind, event.actor, event.model_name) == ("token_created", "root-admin", "")
    assert event.after["principal"] == principal
    assert secret not in str(event.raw)


@pytest.mark.slow  # waits out a real 2 s expiry
def test_an_expired_token_is_refused_and_no_longer_listed_as_active(
    sqlite_auth: AuthServer,
) -> None:
    admin = sqlite_auth.admin
    created = admin.create_access_token(_name("short-lived"), "reader", expires_in=2)
    token = created.token
    assert token.expiration_timestamp is not None
    assert token.expiration_timestamp - token.creation_timestamp == 2000
    client = sqlite_auth.client(created.secret)
    if time.time_ns() // 1_000_000 < token.expiration_timestamp - 500:  # not on a stalled machine
        assert client.whoami().role == "reader"  # valid until then (and now cached)
    time.sleep(max(0.0, token.expiration_timestamp / 1000 - time.time()) + 0.05)
    with pytest.raises(Unauthenticated, match="has expired"):
        client.whoami()
    assert token.token_id not in {t.token_id for t in admin.list_access_tokens()}
    listed = {t.token_id: t for t in admin.list_access_tokens(include_inactive=True)}
    assert not listed[token.token_id].active


def test_a_fraction_of_a_second_lifetime_is_not_never(sqlite_auth: AuthServer) -> None:
    created = sqlite_auth.admin.create_access_token(_name("blink"), "none", expires_in=0.2)
    assert created.token.expiration_timestamp is not None
    with pytest.raises(ValueError, match="negative"):
        sqlite_auth.admin.create_access_token(_name("never"), "none", expires_in=-1)


@pytest.mark.slow  # waits out the authenticator's real 5 s cache
def test_revocation_takes_effect_within_the_cache_period(sqlite_auth: AuthServer) -> None:
    admin = sqlite_auth.admin
    principal = _name("leaked")
    created = admin.create_access_token(principal, "writer")
    client = sqlite_auth.client(created.secret)
    assert client.whoami().principal == principal  # the server caches the token now
    revoked = admin.revoke_access_token(created.token.token_id)
    revoked_at = time.monotonic()
    assert revoked.revocation_timestamp is not None
    assert admin.revoke_access_token(created.token.token_id) == revoked  # twice is fine
    # Documented: "within 5 s" (the authenticator's cache); 2 s for a slow machine.
    deadline = revoked_at + REVOCATION_SECONDS + 2.0
    while True:
        try:
            client.whoami()
        except Unauthenticated as refused:
            assert "was revoked" in refused.message
            break
        assert time.monotonic() < deadline, "a revoked token still works after the cache period"
        time.sleep(0.1)
    assert created.token.token_id not in {t.token_id for t in admin.list_access_tokens()}
    kinds = [e.kind for e in admin.list_model_events(kinds=["token_revoked"]).events]
    assert kinds.count("token_revoked") >= 1
    # A token revoked before it was ever used is refused at once.
    fresh = admin.create_access_token(_name("unused"), "writer")
    admin.revoke_access_token(fresh.token.token_id)
    with pytest.raises(Unauthenticated, match="was revoked"):
        sqlite_auth.client(fresh.secret).whoami()


def test_token_administration_needs_the_global_admin_role(auth: AuthServer) -> None:
    admin = auth.admin
    name = _model_with_versions(admin, "token-admin", 1)
    owner_name, owner = auth.principal_client("writer", "owner")
    admin.set_model_grant(name, owner_name, "admin")  # admin of one model is not enough
    _denied(lambda: owner.create_access_token("someone", "admin"), "admin")
    _denied(lambda: owner.list_access_tokens(), "admin")
    _denied(lambda: owner.delete_model_grant(name, owner_name), "admin")
    made = admin.create_access_token(_name("via-api"), "none", description="CI of the risk team")
    assert made.token.description == "CI of the risk team"
    assert made.token.role == "none"
