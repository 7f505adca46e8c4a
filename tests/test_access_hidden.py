"""No existence leaks: a caller who may not read a model gets, on every RPC and
every path into it, exactly the answer a model that does not exist gets (same
status code, same message but for the name), whether the version, alias, stage
or file it asks about exists or not. A caller who may read the model but not
change it gets PERMISSION_DENIED on every write, missing versions included.

Each case is called twice by a role-none token without grants: on a prepared
model (support.access.prepare) and on a name no model ever had, of the same
length; the two answers are compared with the name replaced.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from support.access import Prepared, assert_denied, prepare, unique_name
from support.auth import AuthServer

from registry_client import Lineage, PermissionDenied, RegistryClient, RegistryError

Call = Callable[[RegistryClient, str, Prepared], Any]


def _now() -> int:
    return time.time_ns() // 1_000_000


# Reads: each path into a model, with what it asks for existing (in the
# prepared model) and not.
READS: dict[str, Call] = {
    "model": lambda c, n, m: c.get_registered_model(n),
    "latest": lambda c, n, m: c.get_latest_versions(n),
    "latest, non-empty stage": lambda c, n, m: c.get_latest_versions(n, stages=["Staging"]),
    "latest, empty stage": lambda c, n, m: c.get_latest_versions(n, stages=["Production"]),
    "version": lambda c, n, m: c.get_model_version(n, 1),
    "missing version": lambda c, n, m: c.get_model_version(n, 99),
    "alias": lambda c, n, m: c.get_model_version_by_alias(n, "canary"),
    "missing alias": lambda c, n, m: c.get_model_version_by_alias(n, "nope"),
    "uri version": lambda c, n, m: c.resolve(f"models:/{n}/1"),
    "uri pending version": lambda c, n, m: c.resolve(f"models:/{n}/3"),
    "uri missing version": lambda c, n, m: c.resolve(f"models:/{n}/99"),
    "uri alias": lambda c, n, m: c.resolve(f"models:/{n}@canary"),
    "uri missing alias": lambda c, n, m: c.resolve(f"models:/{n}@nope"),
    "uri non-empty stage": lambda c, n, m: c.resolve(f"models:/{n}/Staging"),
    "uri empty stage": lambda c, n, m: c.resolve(f"models:/{n}/Production"),
    "uri latest": lambda c, n, m: c.resolve(f"models:/{n}/latest"),
    "uri with a path": lambda c, n, m: c.resolve(f"models:/{n}/2/weights.bin"),
    "lineage": lambda c, n, m: c.get_model_version_lineage(n, 1),
    "lineage of a missing version": lambda c, n, m: c.get_model_version_lineage(n, 99),
    "history": lambda c, n, m: c.list_model_events(n),
    "history of a version": lambda c, n, m: c.list_model_events(n, version=1),
    "state as of": lambda c, n, m: c.get_model_state_as_of(n, _now()),
    "files": lambda c, n, m: c.list_artifacts(n, 2),
    "files of a missing version": lambda c, n, m: c.list_artifacts(n, 99),
    "files by uri": lambda c, n, m: c.list_artifacts(f"models:/{n}/2"),
    "files by uri of a missing version": lambda c, n, m: c.list_artifacts(f"models:/{n}/99"),
    "download": lambda c, n, m: c.download_artifact(n, 2, "weights.bin", io.BytesIO()),
    "download of a missing file": lambda c, n, m: c.download_artifact(n, 2, "no.bin", io.BytesIO()),
    "download of a missing version": lambda c, n, m: c.download_artifact(
        n, 99, "weights.bin", io.BytesIO()
    ),
    "download urls": lambda c, n, m: c.get_artifact_download_urls(n, 2),
    "download urls of a missing version": lambda c, n, m: c.get_artifact_download_urls(n, 99),
    "grants": lambda c, n, m: c.list_model_grants(n),
}

# Writes, by a caller who may not read the model: answered as for a missing model.
WRITES: dict[str, Call] = {
    "update model": lambda c, n, m: c.update_registered_model(n, "changed"),
    "rename": lambda c, n, m: c.rename_registered_model(n, n + "-renamed"),
    "delete model": lambda c, n, m: c.delete_registered_model(n),
    "set tag": lambda c, n, m: c.set_registered_model_tag(n, "team", "fraud"),
    "delete tag": lambda c, n, m: c.delete_registered_model_tag(n, "team"),
    "delete missing tag": lambda c, n, m: c.delete_registered_model_tag(n, "nope"),
    "create version": lambda c, n, m: c.create_model_version(n, source="s3://b/9"),
    "update version": lambda c, n, m: c.update_model_version(n, 1, "changed"),
    "update missing version": lambda c, n, m: c.update_model_version(n, 99, "changed"),
    "delete version": lambda c, n, m: c.delete_model_version(n, 1),
    "delete missing version": lambda c, n, m: c.delete_model_version(n, 99),
    "transition": lambda c, n, m: c.transition_model_version_stage(n, 1, "Production"),
    "transition missing version": lambda c, n, m: c.transition_model_version_stage(
        n, 99, "Production"
    ),
    "set version tag": lambda c, n, m: c.set_model_version_tag(n, 1, "k", "w"),
    "set missing version's tag": lambda c, n, m: c.set_model_version_tag(n, 99, "k", "w"),
    "delete version tag": lambda c, n, m: c.delete_model_version_tag(n, 1, "k"),
    "set alias": lambda c, n, m: c.set_registered_model_alias(n, "canary", 2),
    "set alias to a missing version": lambda c, n, m: c.set_registered_model_alias(n, "canary", 99),
    "delete alias": lambda c, n, m: c.delete_registered_model_alias(n, "canary"),
    "delete missing alias": lambda c, n, m: c.delete_registered_model_alias(n, "nope"),
    "protect": lambda c, n, m: c.set_model_protection(n, protected_aliases=["canary"]),
    "upload": lambda c, n, m: c.upload_artifact(n, 3, m.file, "extra.bin"),
    "upload to a missing version": lambda c, n, m: c.upload_artifact(n, 99, m.file, "extra.bin"),
    "finalize": lambda c, n, m: c.finalize_model_version(n, 3, m.manifest),
    "finalize a missing version": lambda c, n, m: c.finalize_model_version(n, 99, m.manifest),
    "abort": lambda c, n, m: c.abort_model_version(n, 3, "given up"),
    "abort a missing version": lambda c, n, m: c.abort_model_version(n, 99, "given up"),
}

# Writes a reader of the model is refused (PERMISSION_DENIED, the role it needs).
READER_WRITES = {k: v for k, v in WRITES.items() if k not in ("rename", "delete model")}
ADMIN_WRITES = ("delete version", "delete missing version", "protect", "rename", "delete model")


@dataclass
class HiddenWorld:
    server: AuthServer
    model: Prepared
    missing: str  # a name no model ever had, as long as model.name
    gone: str  # a deleted model (it has a history)
    nobody: RegistryClient  # global role none, no grant
    reader: RegistryClient  # global role none, a reader grant on model
    grant_writer: RegistryClient  # global role none, a writer grant on `own` only
    own: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> HiddenWorld:
    server: AuthServer = request.getfixturevalue(
        "sqlite_auth" if request.param == "sqlite" else "pg_auth"
    )
    admin = server.admin
    model = prepare(server, unique_name("hidden"))
    missing = unique_name("hidden")
    gone = unique_name("hidden")
    admin.create_registered_model(gone)
    admin.create_model_version(gone, source="s3://b/gone")
    admin.delete_registered_model(gone)
    _, nobody = server.principal_client("none", "nobody")
    reader_name, reader = server.principal_client("none", "reader")
    admin.set_model_grant(model.name, reader_name, "reader")
    own = unique_name("own")
    admin.create_registered_model(own)
    writer_name, grant_writer = server.principal_client("none", "writer")
    admin.set_model_grant(own, writer_name, "writer")
    return HiddenWorld(server, model, missing, gone, nobody, reader, grant_writer, own)


def _answer(call: Callable[[], Any], name: str) -> tuple[str, str]:
    """The refusal's status code and message, the model's name replaced."""
    with pytest.raises(RegistryError) as caught:
        call()
    error = caught.value
    return error.code.name, error.message.replace(name, "<model>")


def _same_as_missing(world: HiddenWorld, call: Call, client: RegistryClient) -> tuple[str, str]:
    model, missing = world.model, world.missing
    hidden = _answer(lambda: call(client, model.name, model), model.name)
    absent = _answer(lambda: call(client, missing, model), missing)
    assert hidden == absent
    # NOT_FOUND; or a refusal that does not depend on the model at all (an
    # upload refused before its header is read, to who may write no model).
    assert hidden[0] == "NOT_FOUND" or "<model>" not in hidden[1], hidden
    return hidden


@pytest.mark.parametrize("case", sorted(READS))
def test_a_model_it_may_not_read_answers_reads_as_a_missing_one(
    world: HiddenWorld, case: str
) -> None:
    _same_as_missing(world, READS[case], world.nobody)


@pytest.mark.parametrize("case", sorted(WRITES))
def test_a_model_it_may_not_read_answers_writes_as_a_missing_one(
    world: HiddenWorld, case: str
) -> None:
    before = world.server.admin.get_registered_model(world.model.name).raw
    _same_as_missing(world, WRITES[case], world.nobody)
    assert world.server.admin.get_registered_model(world.model.name).raw == before


@pytest.mark.parametrize("case", sorted(READER_WRITES))
def test_a_reader_of_the_model_is_refused_writes_with_permission_denied(
    world: HiddenWorld, case: str
) -> None:
    needed = "admin" if case in ADMIN_WRITES else "writer"
    model = world.model
    if case.startswith("upload"):  # may be refused before the header is read
        with pytest.raises(PermissionDenied):
            READER_WRITES[case](world.reader, model.name, model)
        return
    assert_denied(lambda: READER_WRITES[case](world.reader, model.name, model), needed)


def test_the_history_of_a_deleted_model_it_may_not_read_is_a_missing_ones(
    world: HiddenWorld,
) -> None:
    reads: list[Call] = [
        lambda c, n, m: c.list_model_events(n),
        lambda c, n, m: c.get_model_state_as_of(n, _now()),
    ]
    for call in reads:
        hidden = _answer(lambda: call(world.nobody, world.gone, world.model), world.gone)  # noqa: B023
        absent = _answer(lambda: call(world.nobody, world.missing, world.model), world.missing)  # noqa: B023
        assert hidden == absent


@pytest.mark.parametrize("parent", ["1", "99", "@canary", "@nope", "/Staging", "latest"])
def test_a_parent_in_a_model_it_may_not_read_is_a_missing_one(
    world: HiddenWorld, parent: str
) -> None:
    """Its own model it may write; the parent URI points into the hidden model."""
    suffix = parent if parent.startswith(("@", "/")) else f"/{parent}"

    def call(c: RegistryClient, n: str, m: Prepared) -> Any:
        lineage = Lineage(parent_model_uri=f"models:/{n}{suffix}")
        return c.create_model_version(world.own, source="s3://b/child", lineage=lineage)

    _, message = _same_as_missing(world, call, world.grant_writer)
    assert message.startswith("lineage.parent_model_uri: registered model '<model>' not found")


def test_hidden_reads_are_not_recorded_and_hidden_writes_are(world: HiddenWorld) -> None:
    server, model, admin = world.server, world.model, world.server.admin
    _, nobody = server.principal_client("none", "nobody")  # no refusal recorded yet
    cursor = server.last_event_id()
    for case in ("model", "missing version", "uri empty stage"):
        _answer(lambda: READS[case](nobody, model.name, model), model.name)  # noqa: B023
    assert admin.list_model_events(after_event_id=cursor).events == ()
    _answer(lambda: WRITES["set tag"](nobody, model.name, model), model.name)
    events = admin.list_model_events(after_event_id=cursor).events
    assert [(e.kind, e.model_name) for e in events] == [("access_denied", model.name)]
    assert events[0].after["role"] == "none"


def test_a_parent_in_a_model_it_may_not_read_is_shown_without_its_name(
    world: HiddenWorld,
) -> None:
    admin, model = world.server.admin, world.model
    own = unique_name("child")
    admin.create_registered_model(own)
    lineage = Lineage(parent_model_uri=f"models:/{model.name}@canary")
    admin.create_model_version(own, source="s3://b/child", lineage=lineage)
    admin.create_model_version(
        own, source="s3://b/grandchild", lineage=Lineage(parent_model_uri=f"models:/{own}/1")
    )
    principal, child_reader = world.server.principal_client("none", "child-reader")
    admin.set_model_grant(own, principal, "reader")

    seen = child_reader.get_model_version(own, 1).lineage
    assert (seen.parent_model_uri, seen.parent_hidden) == ("", True)
    # A parent it may read is shown.
    second = child_reader.get_model_version(own, 2).lineage
    assert (second.parent_model_uri, second.parent_hidden) == (f"models:/{own}/1", False)
    # Every answer carrying the version hides it: lists, searches, lineage.
    listed = child_reader.search_model_versions(f"name = '{own}'")
    assert {(v.version, v.lineage.parent_model_uri) for v in listed} == {
        (1, ""),
        (2, f"models:/{own}/1"),
    }
    assert child_reader.get_model_version_lineage(own, 2).ancestors[0].lineage.parent_hidden
    # ... and its version_created event in the history.
    (created, _) = child_reader.list_model_events(own, kinds=["version_created"]).events
    assert created.after["parent_model_uri"] == ""
    assert created.after["parent_hidden"] is True
    assert model.name not in created.raw.after_json

    # Who may read the parent's model sees it.
    full = admin.get_model_version(own, 1).lineage
    assert (full.parent_model_uri, full.parent_hidden) == (f"models:/{model.name}/1", False)
    (as_admin, _) = admin.list_model_events(own, kinds=["version_created"]).events
    assert as_admin.after["parent_model_uri"] == f"models:/{model.name}/1"
