"""Server interceptors: domain errors -> gRPC status, and one log line per call.

Handlers are wrapped (not just intercepted) so the interceptor sees the
outcome of the call, which plain `intercept_service` does not give. For
server-streaming calls the outcome is known only when the stream ends, so the
wrapper is itself a generator.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from registry_server.domain.errors import RegistryError

log = logging.getLogger("registry_server.calls")

INTERNAL_MESSAGE = "internal error; the server log has the details"

# A status message travels in a trailer that gRPC percent-encodes (up to three
# bytes per byte of UTF-8) and that clients refuse beyond 8-16 KiB. A message
# echoing a huge caller value would turn a clear INVALID_ARGUMENT into the
# client's own RESOURCE_EXHAUSTED ("metadata size exceeds limit"), so messages
# are cut well below that.
MAX_STATUS_MESSAGE_BYTES = 1500
_TRUNCATED = "... (truncated)"


def clip_message(message: str) -> str:
    """``message``, cut to MAX_STATUS_MESSAGE_BYTES of UTF-8 if longer."""
    encoded = message.encode("utf-8", "replace")
    if len(encoded) <= MAX_STATUS_MESSAGE_BYTES:
        return message
    keep = encoded[: MAX_STATUS_MESSAGE_BYTES - len(_TRUNCATED)].decode("utf-8", "ignore")
    return keep + _TRUNCATED


# grpc Python ends a client stream that broke in transit (a message over the
# size limit, a client whose request iterator raised, a reset connection) like
# a clean half-close, and marks the call cancelled only a moment later
# (grpc/grpc#33038; measured: well under a millisecond). A handler taking that
# end for "everything was sent" would store a truncated upload that the client
# was told had failed. So the end of a request stream counts only once the
# call has stayed alive this long after it.
STREAM_END_GRACE_SECONDS = 0.02


class StreamCutOff(Exception):
    """The request stream ended because the call failed, not because the
    client finished sending. Never shown to a caller: the call is over."""


def _call_ends_soon(context: grpc.ServicerContext) -> bool:
    if not context.is_active():
        return True
    ended = threading.Event()
    if not context.add_callback(ended.set):
        return True  # already terminated
    return ended.wait(STREAM_END_GRACE_SECONDS)


def _checked_requests(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    """The request stream, ending normally only when the client closed it."""
    yield from requests
    if _call_ends_soon(context):
        raise StreamCutOff("the request stream was cut off before the client finished it")


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
            self.context.abort(self.code, clip_message(exc.message))
        if not self.context.is_active():
            # The client cancelled or its deadline passed (e.g. mid-upload):
            # the handler's cleanup ran; there is nobody to answer.
            self.code = grpc.StatusCode.CANCELLED
            if isinstance(exc, StreamCutOff):
                # Expected (e.g. a message over the size limit): no traceback.
                self.context.abort(self.code, str(exc))
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
    """Unary handlers: one response object."""

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        call = _Call(method, context)
        try:
            return behavior(request, context)
        except Exception as exc:
            call.fail(exc)
        finally:
            call.done()

    return handler


def _wrap_client_stream(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    """Client-streaming handlers: one response, and a request stream whose
    end can be trusted (see _checked_requests)."""

    def handler(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        call = _Call(method, context)
        try:
            return behavior(_checked_requests(requests, context), context)
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
                _wrap_client_stream(method, handler.stream_unary), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(method, handler.unary_stream), **kwargs
            )
        return handler  # bidirectional streams (reflection) pass through
