"""Authentication edge cases: one `authorization` header per call, and a
revocation that takes effect at once on the server that made it."""

from __future__ import annotations

import grpc
import pytest
from support.access import unique_name
from support.auth import AuthServer

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import Unauthenticated


def _whoami(server: AuthServer, metadata: list[tuple[str, str]]) -> grpc.RpcError | str:
    with grpc.insecure_channel(server.target) as channel:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        try:
            return stub.WhoAmI(pb.WhoAmIRequest(), metadata=metadata, timeout=30).principal
        except grpc.RpcError as error:
            return error


@pytest.mark.parametrize("second", ["same", "other", "bogus"])
def test_several_authorization_headers_are_unauthenticated(
    sqlite_auth: AuthServer, second: str
) -> None:
    """Not "the last one wins": a proxy may have judged the first."""
    reader = sqlite_auth.token(unique_name("first"), "reader")
    admin = sqlite_auth.token(unique_name("second"), "admin")
    other = {"same": reader, "other": admin, "bogus": "mrt_" + "x" * 43}[second]
    answer = _whoami(
        sqlite_auth, [("authorization", f"Bearer {reader}"), ("authorization", f"Bearer {other}")]
    )
    assert isinstance(answer, grpc.RpcError)
    assert answer.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "more than one `authorization` header" in (answer.details() or "")
    # One is fine.
    assert isinstance(_whoami(sqlite_auth, [("authorization", f"Bearer {reader}")]), str)


def test_a_token_revoked_through_the_api_stops_working_at_once(sqlite_auth: AuthServer) -> None:
    principal = unique_name("revoked-now")
    token_id, secret = sqlite_auth.token_with_id(principal, "reader")
    client = sqlite_auth.client(secret)
    assert client.whoami().principal == principal  # now in the server's cache
    sqlite_auth.admin.revoke_access_token(token_id)
    with pytest.raises(Unauthenticated, match=f"access token {token_id} was revoked"):
        client.whoami()


def test_two_tokens_may_share_a_principal(sqlite_auth: AuthServer) -> None:
    """Rotation: the new token works before the old one is revoked, and after."""
    principal = unique_name("rotated")
    old_id, old = sqlite_auth.token_with_id(principal, "writer")
    _, new = sqlite_auth.token_with_id(principal, "writer")
    assert sqlite_auth.client(old).whoami().principal == principal
    assert sqlite_auth.client(new).whoami().principal == principal
    sqlite_auth.admin.revoke_access_token(old_id)
    with pytest.raises(Unauthenticated):
        sqlite_auth.client(old).whoami()
    assert sqlite_auth.client(new).whoami().principal == principal
