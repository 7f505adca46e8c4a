"""What the access-control tests share: the authorization matrix (which role each RPC
needs, and a call of it), the prepared model every row acts on, and helpers that
name fresh principals and models and check a refusal.

`MATRIX` is also read by tests/test_contract.py (each RPC's role against the contract).
The servers themselves (`sqlite_auth`, `pg_auth`, `auth`) are fixtures in tests/conftest.py.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client import (
    ArtifactFile,
    Dataset,
    Lineage,
    NotFound,
    PermissionDenied,
    RegistryClient,
)
from support.auth import AuthServer

SERVICE_RPCS = [m.name for m in pb.DESCRIPTOR.services_by_name["ModelRegistry"].methods]
ROLES = ("none", "reader", "writer", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES)}
NO_TOKEN = "no-token"
FILE_BYTES = b"model weights\n" * 64


def unique_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def assert_denied(call: Callable[[], Any], needed: str, *, principal: str = "") -> PermissionDenied:
    with pytest.raises(PermissionDenied) as caught:
        call()
    assert re.search(rf"needs (the global )?role {needed}\b", caught.value.message), caught.value
    if principal:
        assert repr(principal) in caught.value.message
    return caught.value


def assert_hidden(call: Callable[[], Any], name: str) -> NotFound:
    """Refused as if the model `name` did not exist: NOT_FOUND, naming only it."""
    with pytest.raises(NotFound) as caught:
        call()
    assert re.search(
        rf"registered model {re.escape(repr(name))} not found( and has no history)?$",
        caught.value.message,
    ), caught.value
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
    webhook_id: int = 0

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
    # Loopback, port 9 (discard): deliveries fail at once, locally (the auth
    # servers allow private and insecure webhooks).
    webhook = admin.create_webhook("http://127.0.0.1:9/hook", models=[name]).webhook
    return Prepared(name, [stored], token_id, file, webhook.webhook_id)


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
    # the watch stream: reading its first message is what makes the server check the role
    "WatchModelEvents": Row(
        "reader", lambda c, m: next(iter(c.watch_model_events(m.name, from_beginning=True)))
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
    # webhooks: global admins only
    "CreateWebhook": Row(
        "admin",
        lambda c, m: c.create_webhook("http://127.0.0.1:9/new", models=[m.name]),
        True,
        "global",
    ),
    "ListWebhooks": Row("admin", lambda c, m: c.list_webhooks(), scope="global"),
    "UpdateWebhook": Row(
        "admin", lambda c, m: c.update_webhook(m.webhook_id, enabled=False), True, "global"
    ),
    "DeleteWebhook": Row("admin", lambda c, m: c.delete_webhook(m.webhook_id), True, "global"),
    "ListWebhookDeliveries": Row(
        "admin", lambda c, m: c.list_webhook_deliveries(m.webhook_id), scope="global"
    ),
    "TestWebhook": Row("admin", lambda c, m: c.test_webhook(m.webhook_id), True, "global"),
    # the import path (registry import mlflow): global admins only
    "ImportRegisteredModel": Row(
        "admin",
        lambda c, m: c.import_registered_model(m.name + "-imported", creation_timestamp=1),
        True,
        "global",
    ),
    "ImportModelVersion": Row(
        "admin",
        lambda c, m: c.import_model_version(
            m.name, 10, creation_timestamp=1, source="s3://bucket/run/10"
        ),
        True,
        "global",
    ),
    "ImportRegisteredModelAlias": Row(
        "admin", lambda c, m: c.import_registered_model_alias(m.name, "imported", 1), True, "global"
    ),
}


def model_with_versions(admin: RegistryClient, stem: str, count: int = 2) -> str:
    name = unique_name(stem)
    admin.create_registered_model(name)
    for i in range(count):
        admin.create_model_version(name, source=f"s3://bucket/{name}/{i}")
    return name
