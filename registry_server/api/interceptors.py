"""Server interceptors: domain errors -> gRPC status, and one log line per call.

Handlers are wrapped (not just intercepted) so the interceptor sees the
outcome of the call, which plain `intercept_service` does not give. For
server-streaming calls the outcome is known only when the stream ends, so the
wrapper is itself a generator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from registry_server.domain.errors import RegistryError

log = logging.getLogger("registry_server.calls")

INTERNAL_MESSAGE = "internal error; the server log has the details"


class _Call:
    """Times one call, maps its failure, logs its outcome."""

    __slots__ = ("code", "context", "method", "started")

    def __init__(self, method: str, context: grpc.ServicerContext) -> None:
        self.method = method
        self.context = context
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()

    def fail(self, exc: Exception) -> None:
        """Abort the call with the status the exception stands for (raises)."""
        if isinstance(exc, RegistryError):
            self.code = grpc.StatusCode[exc.code]
            self.context.abort(self.code, exc.message)
        if not self.context.is_active():
            # The client cancelled or its deadline passed (e.g. mid-upload):
            # the handler's cleanup ran; there is nobody to answer.
            self.code = grpc.StatusCode.CANCELLED
            raise exc
        self.code = grpc.StatusCode.INTERNAL
        log.error("unhandled error in %s", self.method, exc_info=exc)
        self.context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)

    def done(self) -> None:
        if self.code is grpc.StatusCode.OK and not self.context.is_active():
            self.code = grpc.StatusCode.CANCELLED
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        log.info("%s %s %.1fms", self.method, self.code.name, elapsed_ms)


def _wrap_response(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    """Unary and client-streaming handlers: one response object."""

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        call = _Call(method, context)
        try:
            return behavior(request, context)
        except Exception as exc:
            call.fail(exc)
        finally:
            call.done()

    return handler


def _wrap_stream(method: str, behavior: Callable[..., Iterator[Any]]) -> Callable[..., Any]:
    """Server-streaming handlers: errors surface while iterating."""

    def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        call = _Call(method, context)
        try:
            yield from behavior(request, context)
        except Exception as exc:
            call.fail(exc)
        finally:
            call.done()

    return handler


class ErrorAndLoggingInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_response(method, handler.unary_unary), **kwargs
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_response(method, handler.stream_unary), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(method, handler.unary_stream), **kwargs
            )
        return handler  # bidirectional streams (reflection) pass through
