"""The gRPC server metrics (names in registry_server/metrics.py), as an
interceptor.

Each method's label children are bound when its handler is first wrapped
(CachingInterceptor: once per method), so a call pays for a clock read on
each side, one increment of "started", one of "handled" (the child for its
code is looked up in a small per-method dict) and one histogram observation,
all three per-thread tallies (registry_server/tallies.py): no label
dictionaries, no string formatting, no lock. The outcome is read from the
context after the inner interceptors ran (ErrorAndLoggingInterceptor aborts
with the status a domain error stands for), so this sees the code the client
gets.

Label values are bounded: a method of our service is named as in
registry_api/rpcs.py; health and reflection keep their own (fixed) names; any
path the server does not serve is counted once as service and method
"unknown", so a caller probing random paths cannot add series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from registry_api.rpcs import RPCS_BY_PATH, SERVICE
from registry_server import metrics
from registry_server.api.interceptors import CachingInterceptor

UNKNOWN = "unknown"
# Services served next to ours whose method names are fixed by their protos.
_KNOWN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
_WATCH = RPCS_BY_PATH.get(f"/{SERVICE.full_name}/WatchModelEvents")


def labels_of(method: str) -> tuple[str, str]:
    """(grpc_service, grpc_method) for a path, "unknown" for what we do not serve."""
    facts = RPCS_BY_PATH.get(method)
    if facts is not None:
        return SERVICE.full_name, facts.name
    service, _, name = method.lstrip("/").rpartition("/")
    if service in _KNOWN_SERVICES and name.isidentifier() and len(name) <= 64:
        return service, name
    return UNKNOWN, UNKNOWN


class _Method:
    """One method's bound label children."""

    __slots__ = ("handled", "labels", "observe", "received", "sent", "started")

    def __init__(self, grpc_type: str, service: str, name: str) -> None:
        self.labels = (grpc_type, service, name)
        tallies = metrics.tallies
        self.started = tallies.counter(metrics.grpc_started.labels(*self.labels))
        self.observe = tallies.histogram(metrics.grpc_handling_seconds.labels(*self.labels))
        self.received = tallies.counter(metrics.grpc_msg_received.labels(*self.labels))
        self.sent = tallies.counter(metrics.grpc_msg_sent.labels(*self.labels))
        self.handled: dict[grpc.StatusCode, Callable[[], None]] = {}
        # OK is by far the most common: bound now, the rest on first use.
        self._bind(grpc.StatusCode.OK)

    def _bind(self, code: grpc.StatusCode) -> Callable[[], None]:
        child = metrics.grpc_handled.labels(*self.labels, code.name)
        inc = self.handled[code] = metrics.tallies.counter(child)
        return inc

    def handled_inc(self, code: grpc.StatusCode) -> None:
        inc = self.handled.get(code)
        if inc is None:
            inc = self._bind(code)
        inc()


def _code(context: grpc.ServicerContext, failed: bool) -> grpc.StatusCode:
    """The status the client gets: the one the call was aborted or set with;
    OK for a clean end; CANCELLED when the client went away; UNKNOWN for an
    exception nothing mapped (grpc's own answer to one)."""
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return code
    if not context.is_active():
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


def _unary(m: _Method, behavior: Callable[..., Any]) -> Callable[..., Any]:
    started, observe, handled = m.started, m.observe, m.handled
    ok = handled[grpc.StatusCode.OK]
    clock = time.perf_counter

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        started()
        begin = clock()
        try:
            response = behavior(request, context)
        except BaseException:
            observe(clock() - begin)
            m.handled_inc(_code(context, True))
            raise
        observe(clock() - begin)
        if context.code() is None:  # type: ignore[attr-defined]
            ok()
        else:
            m.handled_inc(_code(context, False))
        return response

    return handler


def _client_stream(m: _Method, behavior: Callable[..., Any]) -> Callable[..., Any]:
    received = m.received

    def counted(requests: Iterator[Any]) -> Iterator[Any]:
        for request in requests:
            received()
            yield request

    unary = _unary(m, lambda requests, context: behavior(counted(requests), context))
    sent = m.sent

    def handler(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        response = unary(requests, context)
        sent()
        return response

    return handler


def _server_stream(
    m: _Method, behavior: Callable[..., Iterator[Any]], count_requests: bool
) -> Callable[..., Any]:
    started, observe, received, sent = m.started, m.observe, m.received, m.sent
    clock = time.perf_counter
    watch = m.labels[2] == (_WATCH.name if _WATCH else None)

    def counted(requests: Iterator[Any]) -> Iterator[Any]:
        for request in requests:
            received()
            yield request

    def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started()
        if count_requests:
            request = counted(request)
        else:
            received()
        if watch:
            metrics.watch_streams.inc()
        begin = clock()
        failed = False
        try:
            for response in behavior(request, context):
                sent()
                yield response
        except BaseException:
            failed = True
            raise
        finally:
            if watch:
                metrics.watch_streams.dec()
            observe(clock() - begin)
            m.handled_inc(_code(context, failed))

    return handler


class MetricsInterceptor(CachingInterceptor):
    """Counts and times every call (see the module's docstring). Placed
    inside the pool interceptors (they must stay outermost) and outside the
    error mapping, so it sees the final status."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        wrapped = super().intercept_service(continuation, handler_call_details)
        if wrapped is None:
            # Not served: grpc answers UNIMPLEMENTED. Counted under one label
            # value whatever the path (not cached: paths are caller input).
            self._unknown.started()
            self._unknown.handled_inc(grpc.StatusCode.UNIMPLEMENTED)
        return wrapped

    def __init__(self) -> None:
        super().__init__()
        self._unknown = _Method("unary", UNKNOWN, UNKNOWN)

    def wrap(self, method: str, handler: Any) -> Any:
        service, name = labels_of(method)
        if handler.unary_unary:
            m = _Method("unary", service, name)
            return handler._replace(unary_unary=_unary(m, handler.unary_unary))
        if handler.stream_unary:
            m = _Method("client_stream", service, name)
            return handler._replace(stream_unary=_client_stream(m, handler.stream_unary))
        if handler.unary_stream:
            m = _Method("server_stream", service, name)
            return handler._replace(unary_stream=_server_stream(m, handler.unary_stream, False))
        if handler.stream_stream:
            m = _Method("bidi_stream", service, name)
            return handler._replace(stream_stream=_server_stream(m, handler.stream_stream, True))
        return handler
