"""Authentication at the edge: every call's bearer token becomes a `Caller`
before the servicer runs, so no RPC can forget to authenticate. Every kind of
handler is wrapped, bidirectional streams included; one of a kind this module
does not know is refused (UNIMPLEMENTED), never served unauthenticated.

The caller travels to the servicer in a context variable (the handler runs in
the thread that sets it). Refused mutations (`AccessDenied`, and `HiddenModel`
for a model the caller may not even read) are written to the history here,
after the refused transaction rolled back, so the record survives the refusal.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from registry_api import metadata as metadata_keys
from registry_server import metrics
from registry_server.api.interceptors import CachingInterceptor, note_principal, refusal
from registry_server.api.visibility import hide_parents
from registry_server.domain import validation
from registry_server.domain.access import (
    ANONYMOUS,
    AccessControl,
    AccessDenied,
    Caller,
    HiddenModel,
)
from registry_server.domain.errors import Unauthenticated
from registry_server.domain.tokens import Authenticator, TokenRefused

ACTOR_METADATA_KEY = metadata_keys.ACTOR
AUTHORIZATION_METADATA_KEY = metadata_keys.AUTHORIZATION

_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("registry_caller")

# Health and reflection answer without a token: probes and tooling need them.
#: Seconds between re-checks of a stream's token (see _wrap_stream).
RECHECK_SECONDS = 5.0

_OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def current_caller() -> Caller:
    """The caller of the call being served (set by AuthInterceptor)."""
    return _current.get()


def _metadata(context: grpc.ServicerContext) -> tuple[str | None, str]:
    authorization = None
    actor = ANONYMOUS
    for key, value in context.invocation_metadata() or ():
        if key == AUTHORIZATION_METADATA_KEY and authorization is not None:
            # Which one would count is a guess a proxy and this server could
            # make differently: refuse rather than let the last one win.
            raise TokenRefused(
                "authorization: more than one `authorization` header; send exactly one",
                "multiple",
            )
        if not isinstance(value, str):
            continue
        if key == AUTHORIZATION_METADATA_KEY:
            authorization = value
        elif key == ACTOR_METADATA_KEY and value.strip():
            actor = validation.short(value.strip(), "registry-actor metadata")
    return authorization, actor


class AuthInterceptor(CachingInterceptor):
    def __init__(self, authenticator: Authenticator, access: AccessControl) -> None:
        super().__init__()
        self.authenticator = authenticator
        self.access = access

    def _enter(self, context: grpc.ServicerContext) -> contextvars.Token[Caller]:
        try:
            caller = self.authenticator.authenticate(*_metadata(context))
        except Unauthenticated as refused:
            # Counted by reason (a fixed word) for registry_auth_failures_total.
            metrics.count_auth_failure(getattr(refused, "reason", "unknown"))
            raise
        note_principal(caller.principal)  # for the call's log line
        return _current.set(caller)

    def _wrap_response(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            token = self._enter(context)
            try:
                response = behavior(request, context)
                hide_parents(response, self.access, _current.get())
                return response
            except AccessDenied as denied:
                self.access.record_denial(denied)
                raise
            except HiddenModel as hidden:
                # Answered as a missing model, recorded as the refusal it was.
                self.access.record_denial(hidden.denial)
                raise
            finally:
                _current.reset(token)

        return handler

    def _wrap_stream(self, behavior: Callable[..., Iterator[Any]]) -> Callable[..., Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            token = self._enter(context)
            try:
                # A stream can outlive its token (a watch stream runs for
                # days): the token is checked again before a message once
                # RECHECK_SECONDS have passed, so a revoked or expired one
                # ends the stream with UNAUTHENTICATED (at once after a
                # revocation on this server, which empties its cache).
                checked = time.monotonic()
                for response in behavior(request, context):
                    if time.monotonic() - checked >= RECHECK_SECONDS:
                        self.authenticator.authenticate(*_metadata(context))
                        checked = time.monotonic()
                    yield response
            except AccessDenied as denied:
                self.access.record_denial(denied)
                raise
            except HiddenModel as hidden:
                # Answered as a missing model, recorded as the refusal it was.
                self.access.record_denial(hidden.denial)
                raise
            finally:
                _current.reset(token)

        return handler

    def wrap(self, method: str, handler: Any) -> Any:
        if method.startswith(_OPEN_SERVICES):
            return handler
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_response(handler.unary_unary), **kwargs
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_response(handler.stream_unary), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream), **kwargs
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream), **kwargs
            )
        # Fail closed: a handler this interceptor cannot wrap is never
        # served without authentication.
        return grpc.unary_unary_rpc_method_handler(refusal(method))
