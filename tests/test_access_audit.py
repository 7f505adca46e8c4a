"""The history shows no more than the listings do, and cannot be flooded.

- token events (token_created, token_revoked) only to global admins, as
  ListAccessTokens; grant events only to who may list the model's grants
  (admin of the model);
- refused changes (`access_denied`) at most once a minute per principal and
  model, the next record counting the refusals left out (`suppressed`), so a
  role-none token cannot fill a hidden model's history;
- a refused model creation or grant records the name it was for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.access import assert_denied, assert_hidden, model_with_versions, unique_name
from support.auth import AuthServer, auth_server
from support.waiting import FakeClock

from registry_server.domain.access import DenialLimiter


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def audited(tmp_path: Path, clock: FakeClock) -> Iterator[AuthServer]:
    with auth_server(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path, "sqlite", clock) as s:
        yield s


def test_refusals_are_recorded_once_a_minute_per_principal_and_model(
    audited: AuthServer, clock: FakeClock
) -> None:
    admin = audited.admin
    name = model_with_versions(admin, "flooded", 1)
    _, nobody = audited.principal_client("none", "flood")
    cursor = audited.last_event_id()
    for i in range(20):
        assert_hidden(lambda: nobody.set_registered_model_tag(name, "k", str(i)), name)  # noqa: B023
    refused = admin.list_model_events(name, kinds=["access_denied"]).events
    assert len(refused) == 1
    assert "suppressed" not in refused[0].after

    # Another principal has its own minute.
    _, other = audited.principal_client("none", "other")
    assert_hidden(lambda: other.delete_registered_model(name), name)
    assert len(admin.list_model_events(name, kinds=["access_denied"]).events) == 2

    # A minute later, the next refusal is recorded with the count left out.
    clock.now += 60_000
    assert_hidden(lambda: nobody.update_registered_model(name, "x"), name)
    last = admin.list_model_events(name, kinds=["access_denied"]).events[-1]
    assert last.after == {
        "action": "updating the description",
        "needed": "writer",
        "role": "none",
        "suppressed": 19,
    }
    events = admin.list_model_events(name, after_event_id=cursor, page_size=1000).events
    assert [e.kind for e in events] == ["access_denied"] * 3


def test_the_limiter_counts_what_it_leaves_out() -> None:
    limiter = DenialLimiter(window_ms=1000, max_keys=2)
    key = ("p", 1, "m")
    assert limiter.admit(key, 0) == 0
    assert limiter.admit(key, 999) is None
    assert limiter.admit(key, 500) is None
    assert limiter.admit(("p", 2, "n"), 500) == 0
    assert limiter.admit(key, 1000) == 2
    # Past max_keys, the oldest recorded pair is forgotten (here one whose minute has ended).
    assert limiter.admit(("q", 1, "m"), 1500) == 0
    assert limiter.admit(key, 1500) is None


def test_token_and_grant_events_only_to_who_may_list_them(audited: AuthServer) -> None:
    admin = audited.admin
    mine, other = model_with_versions(admin, "mine", 1), model_with_versions(admin, "other", 1)
    owner_name, owner = audited.principal_client("none", "owner")
    admin.set_model_grant(mine, owner_name, "admin")
    admin.set_model_grant(other, "someone", "reader")
    reader_name, reader = audited.principal_client("reader", "auditor")
    admin.set_model_grant(mine, reader_name, "reader")  # reader, not admin, of mine
    admin.create_access_token(unique_name("ci"), "writer")

    everything = {e.kind for e in admin.list_model_events(page_size=1000).events}
    assert {"token_created", "grant_set"} <= everything

    seen = reader.list_model_events(page_size=1000).events
    assert not {e.kind for e in seen} & {"token_created", "token_revoked", "grant_set"}
    assert [e.kind for e in reader.list_model_events(mine).events if "grant" in e.kind] == []
    assert reader.list_model_events(kinds=["grant_set", "token_created"]).events == ()

    # The model's admin (by grant) sees that model's grant events, no other's.
    granted = owner.list_model_events(kinds=["grant_set"], page_size=1000).events
    assert {(e.model_name, e.after["principal"]) for e in granted} == {
        (mine, owner_name),
        (mine, reader_name),
    }
    assert owner.list_model_events(kinds=["token_created"]).events == ()


def test_a_refused_creation_or_grant_records_the_name_it_was_for(audited: AuthServer) -> None:
    admin = audited.admin
    name = model_with_versions(admin, "granted", 1)
    principal, writer = audited.principal_client("writer", "w")
    _, nobody = audited.principal_client("none", "n")
    wanted = unique_name("wanted")
    assert_denied(lambda: nobody.create_registered_model(wanted), "writer")
    assert_denied(lambda: writer.set_model_grant(name, principal, "admin"), "admin")
    refused = admin.list_model_events(kinds=["access_denied"], page_size=1000).events
    assert [(e.model_name, e.after["action"]) for e in refused[-2:]] == [
        (wanted, "creating a registered model"),
        (name, "granting a role"),
    ]
