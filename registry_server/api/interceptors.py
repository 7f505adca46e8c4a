"""Server interceptors: domain errors -> gRPC status, and the call log.

Handlers are wrapped (not just intercepted) so the interceptor sees the
outcome of the call, which plain `intercept_service` does not give. For
server-streaming calls the outcome is known only when the stream ends, so the
wrapper is itself a generator.

Failed calls and slow calls are always logged. A line for every successful
call (the access log) is opt-in: formatting and writing it took about a tenth
of the server's CPU on the hottest reads (measured with py-spy while
benchmarking get-by-alias).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc

from registry_server import deadline
from registry_server.api.names import nfc_names
from registry_server.domain.errors import RegistryError
from registry_server.text import EscapingFilter

log = logging.getLogger("registry_server.calls")
# Status messages repeat caller text (a filter, a name): escaped, so that one
# call is one log line and nothing reaches a terminal raw (text.py).
log.addFilter(EscapingFilter())

INTERNAL_MESSAGE = "internal error; the server log has the details"

# A successful call taking this long is logged even without the access log.
SLOW_CALL_SECONDS = 1.0

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


#: The call being served in this thread, so that the authentication inside
#: can name its principal in this call's log line (note_principal).
_current_call: contextvars.ContextVar[_Call] = contextvars.ContextVar("registry_call")


def note_principal(principal: str) -> None:
    """Record who the call being served is, for its log line."""
    call = _current_call.get(None)
    if call is not None:
        call.principal = principal


class _Call:
    """Times one call, maps its failure, logs its outcome."""

    __slots__ = (
        "access_log",
        "code",
        "context",
        "message",
        "method",
        "principal",
        "started",
        "token",
        "trace_id",
    )

    def __init__(
        self,
        method: str,
        context: grpc.ServicerContext,
        access_log: bool,
        trace_id: Callable[[], str | None] | None = None,
    ) -> None:
        self.method = method
        self.context = context
        self.access_log = access_log
        self.trace_id = trace_id
        self.message = ""
        self.principal = ""
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()
        self.token = _current_call.set(self)
        deadline.begin(context.time_remaining())

    def fail(self, exc: Exception) -> None:
        """Abort the call with the status the exception stands for (raises)."""
        if isinstance(exc, RegistryError):
            self.code = grpc.StatusCode[exc.code]
            self.message = clip_message(exc.message)
            self.context.abort(self.code, self.message)
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
        deadline.end()
        # A stream resumed in another context has nothing here to undo.
        with contextlib.suppress(ValueError):
            _current_call.reset(self.token)
        if self.code is grpc.StatusCode.OK and not self.context.is_active():
            self.code = grpc.StatusCode.CANCELLED
        elapsed = time.perf_counter() - self.started
        if self.code is grpc.StatusCode.OK and elapsed < SLOW_CALL_SECONDS:
            if self.access_log:
                log.info("%s OK %.1fms", self.method, elapsed * 1000, extra=self._fields(elapsed))
            return
        # The status message says which field and why: an operator reading
        # the log should not need the client's side to understand a failure.
        log.info(
            "%s %s %.1fms %s",
            self.method,
            self.code.name,
            elapsed * 1000,
            self.message,
            extra=self._fields(elapsed),
        )

    def _fields(self, elapsed: float) -> dict[str, Any]:
        """The line's facts as record attributes: the JSON log format
        (registry_server/logs.py) writes them as fields, exactly."""
        return {
            "call": {
                "method": self.method,
                "status": self.code.name,
                "duration_ms": round(elapsed * 1000, 3),
                "principal": self.principal,
                "status_message": self.message,
                "trace_id": self.trace_id() if self.trace_id is not None else None,
            }
        }


TraceId = Callable[[], str | None] | None


def _wrap_response(
    method: str, behavior: Callable[..., Any], access_log: bool, trace_id: TraceId = None
) -> Callable[..., Any]:
    """Unary handlers: one response object."""

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        call = _Call(method, context, access_log, trace_id)
        try:
            return behavior(request, context)
        except Exception as exc:
            call.fail(exc)
        finally:
            call.done()

    return handler


def _wrap_client_stream(
    method: str, behavior: Callable[..., Any], access_log: bool, trace_id: TraceId = None
) -> Callable[..., Any]:
    """Client-streaming handlers: one response, and a request stream whose
    end can be trusted (see _checked_requests)."""

    def handler(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        call = _Call(method, context, access_log, trace_id)
        try:
            return behavior(_checked_requests(requests, context), context)
        except Exception as exc:
            call.fail(exc)
        finally:
            call.done()

    return handler


def _wrap_stream(
    method: str, behavior: Callable[..., Iterator[Any]], access_log: bool, trace_id: TraceId = None
) -> Callable[..., Any]:
    """Server-streaming handlers: errors surface while iterating."""

    def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        call = _Call(method, context, access_log, trace_id)
        try:
            yield from behavior(request, context)
        except Exception as exc:
            call.fail(exc)
        finally:
            call.done()

    return handler


class CachingInterceptor(grpc.ServerInterceptor):
    """Wraps each method's handler once, not on every call.

    grpc runs `intercept_service` for every call; the wrapping depends only on
    the method (all per-call work happens inside the wrapped handler), so the
    wrapped handler is kept per method name.
    """

    def __init__(self) -> None:
        self._wrapped: dict[str, Any] = {}

    def wrap(self, method: str, handler: Any) -> Any:
        raise NotImplementedError

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrapped[method] = self.wrap(method, handler)
        return wrapped


class ErrorAndLoggingInterceptor(CachingInterceptor):
    """``trace_id`` (tracing on) gives the trace of the call in progress,
    which its log line carries."""

    def __init__(self, access_log: bool = False, trace_id: TraceId = None) -> None:
        super().__init__()
        self.access_log = access_log
        self.trace_id = trace_id

    def wrap(self, method: str, handler: Any) -> Any:
        kwargs = {
            # Model names in one spelling (NFC) before any handler sees them.
            "request_deserializer": nfc_names(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_response(method, handler.unary_unary, self.access_log, self.trace_id),
                **kwargs,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_client_stream(method, handler.stream_unary, self.access_log, self.trace_id),
                **kwargs,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(method, handler.unary_stream, self.access_log, self.trace_id), **kwargs
            )
        if handler.stream_stream:
            # Bidirectional streams (reflection today): errors surface while
            # iterating, as for server streams. The request stream is passed
            # as it is: a handler that must trust its end should check it
            # (see _checked_requests).
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(method, handler.stream_stream, self.access_log, self.trace_id),
                **kwargs,
            )
        return grpc.unary_unary_rpc_method_handler(
            _wrap_response(method, refusal(method), self.access_log, self.trace_id)
        )


class Unimplemented(RegistryError):
    """The method exists but this server cannot serve it. Raised only here,
    at the edge: the domain never has a reason to."""

    code = "UNIMPLEMENTED"


def refusal(method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
    """A unary behaviour raising Unimplemented: what an interceptor serves
    instead of a handler of no kind it knows how to wrap, so that such a
    method fails closed rather than running unwrapped (unauthenticated,
    unlogged)."""
    log.error("%s: handler of an unknown kind; refusing its calls", method)

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        raise Unimplemented(f"{method} is not served")

    return refuse


class PreserializedResponses(CachingInterceptor):
    """Lets the handlers of `serializers`' methods return bytes they
    serialized themselves (registry_api/wire.py): each method's response
    serializer is replaced by the one given. Innermost, so the outer
    interceptors wrap the handler with that serializer."""

    def __init__(self, serializers: Mapping[str, Callable[[Any], bytes]]) -> None:
        super().__init__()
        self.serializers = dict(serializers)

    def wrap(self, method: str, handler: Any) -> Any:
        serializer = self.serializers.get(method)
        if serializer is None:
            return handler
        return handler._replace(response_serializer=serializer)
