"""The auth and error interceptors wrap every kind of handler or refuse it:
a bidirectional stream added later is authenticated and its errors mapped,
and a handler of a kind they cannot wrap is refused, never served bare."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from registry_server.api.auth import AuthInterceptor, current_caller
from registry_server.api.interceptors import ErrorAndLoggingInterceptor
from registry_server.domain.access import AccessControl, Role
from registry_server.domain.errors import NotFound
from registry_server.domain.tokens import Authenticator, TokenService
from registry_server.server import prepare_database

CHAT = "/modelregistry.v1.ModelRegistry/Chat"  # not an RPC of the service (yet)
ODD = "/modelregistry.v1.ModelRegistry/Odd"


def _chat(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    for request in requests:
        if request == b"missing":
            raise NotFound("name: no such thing")
        yield current_caller().principal.encode() + b":" + request


class _Handlers(grpc.GenericRpcHandler):
    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        if handler_call_details.method == CHAT:
            return grpc.stream_stream_rpc_method_handler(_chat)
        if handler_call_details.method == ODD:
            # A handler with no behaviour of any kind grpc knows.
            return grpc.unary_unary_rpc_method_handler(lambda r, c: r)._replace(unary_unary=None)
        return None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(target, a valid token's secret) of a server running only the test
    handlers behind the real interceptors, with authentication required."""
    path: Path = tmp_path_factory.mktemp("fail-closed") / "registry.db"
    database = prepare_database(f"sqlite:///{path}", pool_size=2)
    _, secret = TokenService(database).create_unchecked(
        "alice", Role.READER, "test", 0, "test-suite"
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[
            ErrorAndLoggingInterceptor(),
            AuthInterceptor(Authenticator(database, True), AccessControl(database)),
        ],
        handlers=[_Handlers()],
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", secret
    finally:
        server.stop(None).wait()
        database.dispose()


def _chat_call(target: str, messages: list[bytes], secret: str | None) -> list[bytes]:
    metadata = () if secret is None else (("authorization", f"Bearer {secret}"),)
    with grpc.insecure_channel(target) as channel:
        call = channel.stream_stream(CHAT)
        return list(call(iter(messages), metadata=metadata, timeout=10))


def test_a_bidirectional_stream_without_a_token_is_unauthenticated(
    served: tuple[str, str],
) -> None:
    target, _ = served
    with pytest.raises(grpc.RpcError) as info:
        _chat_call(target, [b"hello"], None)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as info:
        _chat_call(target, [b"hello"], "not-a-token")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_bidirectional_stream_runs_as_the_tokens_principal(served: tuple[str, str]) -> None:
    target, secret = served
    assert _chat_call(target, [b"a", b"b"], secret) == [b"alice:a", b"alice:b"]


def test_a_bidirectional_streams_errors_are_mapped(served: tuple[str, str]) -> None:
    target, secret = served
    with pytest.raises(grpc.RpcError) as info:
        _chat_call(target, [b"a", b"missing"], secret)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no such thing" in info.value.details()


def test_a_handler_of_no_known_kind_is_refused(served: tuple[str, str]) -> None:
    target, secret = served
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(ODD)
        for metadata in [(), (("authorization", f"Bearer {secret}"),)]:
            with pytest.raises(grpc.RpcError) as info:
                call(b"", metadata=metadata, timeout=10)
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
