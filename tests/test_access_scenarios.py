"""Access control scenarios, on SQLite and PostgreSQL, through the public client
against the real server with authentication on: protected aliases and stages,
per-model grants (and what they let a principal see in searches, history and
lineage), the actor recorded in events, refused reads left out of the history.

The authorization matrix is in test_access_matrix.py, tokens in test_access_tokens.py.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from support.access import assert_denied, assert_hidden, model_with_versions, unique_name
from support.auth import SPOOFED_ACTOR, AuthServer

from registry_client import Lineage


def test_protected_alias_needs_an_admin_of_the_model(auth: AuthServer) -> None:
    admin = auth.admin
    name = model_with_versions(admin, "protected-alias", 3)
    admin.set_registered_model_alias(name, "champion", 1)
    admin.set_registered_model_alias(name, "canary", 1)
    protected = admin.set_model_protection(name, protected_aliases=["champion"])
    assert list(protected.protected_aliases) == ["champion"]
    writer_name, writer = auth.principal_client("writer", "ci")
    owner_name, owner = auth.principal_client("reader", "owner")
    admin.set_model_grant(name, owner_name, "admin")

    # A writer moves the unprotected alias, not the protected one.
    assert writer.set_registered_model_alias(name, "canary", 2).version == 2
    assert_denied(lambda: writer.set_registered_model_alias(name, "champion", 2), "admin")
    assert_denied(lambda: writer.delete_registered_model_alias(name, "champion"), "admin")
    assert admin.get_model_version_by_alias(name, "champion").version == 1
    # Protection holds before the alias exists, too.
    admin.set_model_protection(name, protected_aliases=["champion", "shadow"])
    assert_denied(lambda: writer.set_registered_model_alias(name, "shadow", 2), "admin")

    # An admin of this model through a grant moves it; so does a global admin.
    assert owner.set_registered_model_alias(name, "champion", 2).version == 2
    assert owner.set_registered_model_alias(name, "shadow", 3).version == 3
    owner.delete_registered_model_alias(name, "shadow")
    assert admin.set_registered_model_alias(name, "champion", 3).version == 3

    # The grant makes `owner` admin of this model only: not of others, not globally.
    other = model_with_versions(admin, "not-owned", 1)
    assert_denied(lambda: owner.set_registered_model_alias(other, "canary", 1), "writer")
    assert_denied(lambda: owner.set_model_grant(name, writer_name, "admin"), "admin")
    assert [g.principal for g in owner.list_model_grants(name)] == [owner_name]
    assert_denied(lambda: owner.list_model_grants(other), "admin")

    # The model admin may unprotect; then the writer may move it.
    owner.set_model_protection(name, protected_aliases=[])
    assert writer.set_registered_model_alias(name, "champion", 1).version == 1

    denials = [
        e
        for e in admin.list_model_events(name, kinds=["access_denied"]).events
        if e.actor == writer_name
    ]
    # Recorded once a minute per principal and model (the other two refusals
    # are counted in the next record: tests/test_access_audit.py).
    assert len(denials) == 1
    assert all(e.after["needed"] == "admin" and e.after["role"] == "writer" for e in denials)
    assert "protected alias" in denials[0].after["action"]


def test_protected_stage_needs_an_admin_of_the_model(auth: AuthServer) -> None:
    admin = auth.admin
    name = model_with_versions(admin, "protected-stage", 3)
    model = admin.set_model_protection(name, protected_stages=["production"])
    assert list(model.protected_stages) == ["Production"]
    writer_name, writer = auth.principal_client("writer", "ci")
    owner_name, owner = auth.principal_client("none", "owner")
    admin.set_model_grant(name, owner_name, "admin")

    # Unprotected stages are the writer's.
    assert writer.transition_model_version_stage(name, 1, "Staging").current_stage == "Staging"
    assert writer.transition_model_version_stage(name, 2, "Staging").current_stage == "Staging"
    # Into Production: refused, also with archive_existing_versions.
    assert_denied(lambda: writer.transition_model_version_stage(name, 1, "Production"), "admin")
    assert_denied(
        lambda: writer.transition_model_version_stage(name, 1, "Production", True), "admin"
    )
    assert owner.transition_model_version_stage(name, 1, "Production").current_stage == (
        "Production"
    )
    # Out of Production: refused too.
    assert_denied(lambda: writer.transition_model_version_stage(name, 1, "Archived"), "admin")
    # The model admin promotes v2, archiving v1 (which leaves Production).
    owner.transition_model_version_stage(name, 2, "Production", archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in admin.search_model_versions(f"name = '{name}'")}
    assert stages == {1: "Archived", 2: "Production", 3: "None"}
    # Archiving Staging holders while moving into an unprotected stage stays the writer's.
    writer.transition_model_version_stage(name, 3, "Staging", archive_existing_versions=True)
    events = admin.list_model_events(name, kinds=["access_denied"]).events
    assert [e.actor for e in events] == [writer_name]  # once a minute
    assert all("protected stage Production" in e.after["action"] for e in events)


def test_archiving_into_a_protected_archived_stage_needs_an_admin(
    sqlite_auth: AuthServer,
) -> None:
    admin = sqlite_auth.admin
    name = model_with_versions(admin, "protected-archive", 2)
    admin.transition_model_version_stage(name, 1, "Staging")
    admin.set_model_protection(name, protected_stages=["Archived"])
    _, writer = sqlite_auth.principal_client("writer", "ci")
    assert_denied(
        lambda: writer.transition_model_version_stage(name, 2, "Staging", True),
        "admin",
    )


def test_a_grant_raises_the_role_on_one_model_only(auth: AuthServer) -> None:
    admin = auth.admin
    a, b = unique_name("team-a"), unique_name("team-b")
    run = unique_name("shared-run")
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
    assert_hidden(lambda: ci.create_model_version(a, source="s3://x/a3"), a)
    assert list(ci.search_registered_models()) == []
    admin.set_model_grant(a, ci_name, "writer")

    # Writer on a: creates versions, reads it; nothing on b; no new models.
    created = ci.create_model_version(a, source="s3://x/a3", run_id=run)
    assert created.created_by == ci_name
    ci.set_registered_model_alias(a, "candidate", created.version)
    assert ci.get_registered_model(a).name == a
    assert_hidden(lambda: ci.create_model_version(b, source="s3://x/b2"), b)
    assert_hidden(lambda: ci.get_registered_model(b), b)
    assert_hidden(lambda: ci.resolve(f"models:/{b}/1"), b)
    assert_denied(lambda: ci.create_registered_model(unique_name("new")), "writer")
    # Deriving from a model it cannot read is refused as if that model did not exist.
    assert_hidden(
        lambda: ci.create_model_version(
            a, source="s3://x/a4", lineage=Lineage(parent_model_uri=f"models:/{b}/1")
        ),
        b,
    )

    # Listings show a only.
    assert [m.name for m in ci.search_registered_models()] == [a]
    assert {v.name for v in ci.search_model_versions()} == {a}
    assert {v.name for v in ci.find_model_versions_by_run(run)} == {a}
    assert {v.name for v in admin.find_model_versions_by_run(run)} == {a, b}
    history = ci.list_model_events(after_event_id=cursor, page_size=1000).events
    assert history and {e.model_name for e in history} == {a}
    assert any(e.kind == "alias_set" and e.actor == ci_name for e in history)
    assert_hidden(lambda: ci.list_model_events(b), b)

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
    assert_hidden(lambda: ci.create_model_version(a, source="s3://x/a5"), a)
    assert list(ci.search_registered_models()) == []


def test_a_grant_on_a_new_model_does_not_open_a_deleted_models_history(
    auth: AuthServer,
) -> None:
    """A grant on the model created after another was deleted does not reveal
    the deleted model's events (ids are never reused: SQLite since 0006)."""
    admin = auth.admin
    gone = unique_name("deleted-secret")
    admin.create_registered_model(gone, description="confidential")
    admin.set_registered_model_tag(gone, "k", "confidential")
    with auth.running.database.read() as conn:
        gone_id = conn.execute(sa.text(f"SELECT id FROM registered_models WHERE name = '{gone}'"))
        gone_id = gone_id.scalar_one()
    admin.delete_registered_model(gone)
    public = unique_name("public")
    admin.create_registered_model(public)
    with auth.running.database.read() as conn:
        public_id = conn.execute(
            sa.text(f"SELECT id FROM registered_models WHERE name = '{public}'")
        ).scalar_one()
    assert public_id != gone_id, "the id of a deleted model was reused"
    ci_name, ci = auth.principal_client("none", "ci")
    admin.set_model_grant(public, ci_name, "admin")

    assert {e.model_name for e in ci.list_model_events(page_size=1000).events} == {public}
    assert_hidden(lambda: ci.list_model_events(gone), gone)
    assert_hidden(lambda: ci.get_model_state_as_of(gone, time.time_ns() // 1_000_000), gone)
    # Global readers still read a deleted model's history.
    _, reader = auth.principal_client("reader", "auditor")
    assert reader.list_model_events(gone).events[-1].kind == "model_deleted"


def test_events_record_the_token_principal_not_the_claimed_actor(auth: AuthServer) -> None:
    principal, writer = auth.principal_client("writer", "ci")
    assert writer.actor == SPOOFED_ACTOR
    name = unique_name("actor")
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
    name = model_with_versions(admin, "quiet", 1)
    _, nobody = auth.principal_client("none", "nobody")
    cursor = auth.last_event_id()
    assert_hidden(lambda: nobody.get_registered_model(name), name)
    assert_hidden(lambda: nobody.list_model_grants(name), name)
    assert_denied(lambda: nobody.list_access_tokens(), "admin")
    assert admin.list_model_events(after_event_id=cursor).events == ()
    assert_hidden(lambda: nobody.set_registered_model_tag(name, "k", "v"), name)
    (event,) = admin.list_model_events(after_event_id=cursor).events
    assert (event.kind, event.model_name) == ("access_denied", name)
    assert event.after == {"action": "setting a tag", "needed": "writer", "role": "none"}
