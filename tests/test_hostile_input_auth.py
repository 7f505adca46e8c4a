"""Hostile input against a server with authentication on (SQLite): any RPC, any
global role's real token or a forged or malformed one, hostile fields. The status is
one a caller can act on, and a refusal changes nothing (a refused mutation adds its
`access_denied` event to the history, nothing else).

The same checks without authentication, and the harness, are described in
test_hostile_input.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from support.auth import auth_server
from support.hostile import DatabaseSnapshot, folder_listing
from support.hostile_rpc import (
    ACTOR,
    CLEAR,
    HOSTILE,
    METHODS,
    READ_ONLY,
    WORLD_BREAKERS,
    Harness,
    build_request,
    describe_changes,
    invoke,
    request_strategy,
    shown,
)

from registry_api.proto.modelregistry.v1 import registry_pb2_grpc

ROLES = ("none", "reader", "writer", "admin")
_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)  # what metadata may carry


@dataclass
class AuthBackend:
    """A server with authentication on (SQLite), tokens of every global role,
    and a second view of the database that leaves out access_denied events:
    a refused mutation is recorded in the history on purpose."""

    harness: Harness
    secrets: dict[str, str]
    lenient: DatabaseSnapshot


@pytest.fixture(scope="module")
def auth_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthBackend]:
    folder = tmp_path_factory.mktemp("hostile-auth")
    with auth_server(f"sqlite:///{folder / 'registry.db'}", folder, "sqlite") as server:
        secrets = {role: server.token(f"hostile-{role}", role) for role in ROLES}
        engine = server.running.database.engine
        admin = (("authorization", f"Bearer {secrets['admin']}"),)
        with grpc.insecure_channel(server.target) as channel:
            harness = Harness(
                server.target,
                registry_pb2_grpc.ModelRegistryStub(channel),
                DatabaseSnapshot(engine),
                lambda: folder_listing(folder / "artifacts"),
                setup_metadata=admin,
            )
            lenient = DatabaseSnapshot(engine, ignore={"model_events": "kind = 'access_denied'"})
            yield AuthBackend(harness, secrets, lenient)


def _authorization(secrets: dict[str, str]) -> st.SearchStrategy[str | None]:
    """No header, every role's real token, and malformed or forged ones."""
    real = st.sampled_from([f"Bearer {secrets[role]}" for role in ROLES])
    return st.one_of(
        real,
        st.none(),
        real,
        st.sampled_from(
            [
                "",
                "Bearer",
                "Bearer ",
                f"bearer  {secrets['admin']}",
                f"Basic {secrets['admin']}",
                f"Bearer {secrets['admin'][:-1]}",
                "Bearer ' OR 1=1 --",
                "Bearer %",
                "Bearer " + "a" * 4000,
            ]
        ),
        st.text(_ASCII, max_size=60),
        st.text(_ASCII, max_size=60).map("Bearer ".__add__),
    )


@settings(HOSTILE, max_examples=HOSTILE.max_examples * 3)
@given(data=st.data())
def test_with_authentication_hostile_tokens_and_fields_are_answered_clearly(
    auth_backend: AuthBackend, data: st.DataObject
) -> None:
    """Any RPC, any role or forged token, hostile fields: a clear status, and
    a refusal changes nothing (a refused mutation adds its access_denied event
    to the history, nothing else; so may a NOT_FOUND one, as a hidden model's
    refusal is answered)."""
    harness = auth_backend.harness
    method_name = data.draw(st.sampled_from(list(METHODS)), label="method")
    method = METHODS[method_name]
    spec = data.draw(request_strategy(method_name), label="request")
    authorization = data.draw(_authorization(auth_backend.secrets), label="authorization")
    metadata = ACTOR + ((("authorization", authorization),) if authorization is not None else ())
    request = build_request(method, spec, harness.pools())
    before, before_lenient = harness.snapshot(), auth_backend.lenient.take()
    outcome = invoke(harness.stub, method, request, metadata)
    event(outcome.code.name)
    assert outcome.code in CLEAR, (
        f"{method_name} answered {outcome.code.name}: {outcome.details}\n{shown(request)}"
    )
    if outcome.code is not grpc.StatusCode.OK:
        assert outcome.details.strip(), f"{method_name} {outcome.code.name} says nothing"
    # A refused change to a model the caller may not read is answered NOT_FOUND
    # (as a missing model would be) and recorded all the same.
    recorded_refusal = (
        outcome.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)
        and method_name not in READ_ONLY
    )
    if recorded_refusal:
        assert auth_backend.lenient.take() == before_lenient, (
            f"refused {method_name} changed more than the history: {outcome.details[:200]}"
        )
        assert harness.listing() == before[1]
    elif outcome.code is not grpc.StatusCode.OK or method_name in READ_ONLY:
        after = harness.snapshot()
        assert after == before, (
            f"{method_name} answered {outcome.code.name} ({outcome.details[:200]}) "
            f"but changed the registry: {describe_changes(before, after)}"
        )
    elif method_name in WORLD_BREAKERS and request.name == harness.pools()["name"][0]:
        harness.discard_world()
