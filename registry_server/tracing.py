"""OpenTelemetry tracing: off unless the standard ``OTEL_*`` environment asks for it.

The switch is ``OTEL_TRACES_EXPORTER``: unset or ``none`` (and always when
``OTEL_SDK_DISABLED=true``) means no tracing at all: no interceptor is
installed, no event listener is added to the engines and the artifact store is
not wrapped, so a server with tracing off runs exactly the code it ran before
tracing existed. ``otlp`` exports over OTLP/gRPC to ``OTEL_EXPORTER_OTLP_ENDPOINT``
(the SDK reads its other ``OTEL_EXPORTER_OTLP_*`` settings), ``console`` writes
spans to stdout (debugging). Sampling is the SDK's: ``OTEL_TRACES_SAMPLER``
(default ``parentbased_always_on``: a call whose client sent a sampled
``traceparent`` is traced, and so is every call without one) and
``OTEL_TRACES_SAMPLER_ARG``. The service is named by ``OTEL_SERVICE_NAME``
(default ``registry-server``).

What is traced, with the OpenTelemetry instrumentations where they fit:

* one SERVER span per RPC (opentelemetry-instrumentation-grpc's interceptor:
  the method as span name and ``rpc.method``, the status as
  ``rpc.grpc.status_code``); its parent is the client's span when the call
  carries a W3C ``traceparent`` (registry_client sends one when its caller has
  a span open), so a CI job's trace continues into the server;
* a CLIENT span per database statement (opentelemetry-instrumentation-sqlalchemy's
  engine listener), plus one per EXECUTE of a prepared statement, which runs on
  the DBAPI cursor directly (store/prepared.py) where SQLAlchemy's events do not
  see it;
* a span per artifact store call (``artifacts.put_stream``, ``artifacts.open_stream``...).

The libraries are an optional extra (``pip install 'modelregistry[server,tracing]'``):
without them the server runs untraced and says so in one log line when the
environment asks for tracing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import grpc

from registry_server.artifacts.base import ArtifactStore, StoredObject

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer
    from sqlalchemy import Engine

    from registry_server.store.database import Database

log = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "registry-server"
INSTRUMENTATION_NAME = "registry_server"

#: The environment variables this module reads itself (the SDK reads the rest
#: of the OTEL_* family; docs/operations.md lists the useful ones).
EXPORTER_VARIABLE = "OTEL_TRACES_EXPORTER"
DISABLED_VARIABLE = "OTEL_SDK_DISABLED"
SERVICE_VARIABLE = "OTEL_SERVICE_NAME"


def requested(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters the environment asks for; empty: tracing off."""
    if environ.get(DISABLED_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on"):
        return []
    names = [n.strip().lower() for n in environ.get(EXPORTER_VARIABLE, "").split(",")]
    return [n for n in names if n and n != "none"]


class Tracing:
    """A tracer provider and the instrumentation a server process installs with it.

    Built by `from_env` in production; tests build one around a provider of
    their own (an in-memory exporter) and pass it to ``server.start``.
    """

    def __init__(self, provider: TracerProvider, *, owns_provider: bool = False) -> None:
        from opentelemetry.metrics import NoOpMeterProvider

        self.provider = provider
        self.owns_provider = owns_provider
        self.tracer: Tracer = provider.get_tracer(INSTRUMENTATION_NAME)
        # The SQLAlchemy instrumentation counts connections with a meter; the
        # metrics are Prometheus' business here (the side port), so no-op.
        self._connections = (
            NoOpMeterProvider()
            .get_meter(INSTRUMENTATION_NAME)
            .create_up_down_counter("db.client.connections.usage")
        )

    def server_interceptor(self) -> grpc.ServerInterceptor:
        """One SERVER span per call, parented on the caller's ``traceparent``."""
        from opentelemetry.instrumentation.grpc import server_interceptor

        interceptor: grpc.ServerInterceptor = server_interceptor(tracer_provider=self.provider)
        return interceptor

    def instrument_engine(self, engine: Engine) -> None:
        """A span per statement on ``engine``. The instrumentation's EngineTracer
        is used directly: its instrumentor is a process-wide singleton that
        would trace only the first server a process starts (tests start several)."""
        _statement_tracer()(self.tracer, engine, self._connections)

    def instrument_database(self, database: Database) -> None:
        """Statement spans on both of ``database``'s engines and on prepared EXECUTEs.

        The prepared-statement hook is process-wide (store/prepared.py): in a
        process running several servers (tests), the last one traced wins."""
        from registry_server.store import prepared

        self.instrument_engine(database.engine)
        if database.read_engine is not database.engine:
            self.instrument_engine(database.read_engine)
        prepared.traced_execute = self.traced_execute

    def traced_execute(self, run: Callable[[], Any], name: str, sql: str) -> Any:
        """store/prepared.py's hook: a span around one EXECUTE on the cursor."""
        from opentelemetry.trace import SpanKind, get_current_span

        if not get_current_span().is_recording():
            return run()  # an unsampled call (or none): no span to hang it on
        with self.tracer.start_as_current_span(
            f"EXECUTE {name}",
            kind=SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.statement": sql},
        ):
            return run()

    def traced_store(self, store: ArtifactStore) -> ArtifactStore:
        return TracedStore(store, self.tracer)

    def current_trace_id(self) -> str | None:
        """The trace id of the span in progress (32 hex digits), for the call log."""
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        return f"{context.trace_id:032x}" if context.is_valid else None

    def shutdown(self) -> None:
        """Export what is still batched (a stopping server's last spans)."""
        from registry_server.store import prepared

        if prepared.traced_execute == self.traced_execute:
            prepared.traced_execute = None
        if self.owns_provider:
            self.provider.shutdown()


def from_env(environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """Tracing as the ``OTEL_*`` environment asks, or None (off, or unavailable)."""
    exporters = requested(environ)
    if not exporters:
        return None
    try:
        from opentelemetry.instrumentation.grpc import server_interceptor  # noqa: F401
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer  # noqa: F401
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.warning(
            "%s=%s asks for tracing, but this install lacks the OpenTelemetry libraries "
            "(%s); serving without traces. Install them with: pip install "
            "'modelregistry[server,tracing]'",
            EXPORTER_VARIABLE,
            ",".join(exporters),
            exc.name,
        )
        return None
    service = environ.get(SERVICE_VARIABLE) or DEFAULT_SERVICE_NAME
    resource = Resource.create({"service.name": service})
    # The sampler comes from OTEL_TRACES_SAMPLER / _ARG (the SDK's default).
    provider = TracerProvider(resource=resource)
    added = []
    for name in exporters:
        exporter = _exporter(name, environ)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
            added.append(name)
    if not added:
        return None
    log.info("tracing on (%s exporter, service %s)", ",".join(added), service)
    return Tracing(provider, owns_provider=True)


def _statement_tracer() -> Any:
    """The SQLAlchemy instrumentation's EngineTracer, making spans only for
    statements of a sampled call. As shipped it gathers a statement's
    attributes and starts a span before asking whether anyone records it:
    34 us per statement inside an unsampled call (measured on SQLite, which
    takes 18 us for the statement itself), most of the cost of 1% sampling.
    Statements outside any call (the webhook sender's, the event feed's) get
    no span either, instead of traces of their own."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.trace import get_current_span

    class SampledStatements(EngineTracer):
        def _before_cur_exec(
            self, conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
        ) -> Any:
            if not get_current_span().is_recording():
                return statement, params
            return super()._before_cur_exec(conn, cursor, statement, params, context, many)

    return SampledStatements


def _exporter(name: str, environ: Mapping[str, str]) -> Any:
    if name == "otlp":
        return _otlp_exporter(environ)
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    log.warning("OTEL_TRACES_EXPORTER: unknown exporter %r ignored (otlp, console, none)", name)
    return None


def _otlp_exporter(environ: Mapping[str, str]) -> Any:
    """OTLP over gRPC (the default, as in OpenTelemetry's Python distribution)
    or over HTTP with ``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`` (collectors
    listen on 4317 for the one, 4318 for the other). Both cost the same in
    bench/tracing_cost.py, within its noise."""
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    try:
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpExporter,
            )

            return HttpExporter()
        if protocol != "grpc":
            log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: not supported, using grpc", protocol)
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    except ImportError as exc:
        log.warning(
            "OTEL_TRACES_EXPORTER=otlp needs %s (pip install 'modelregistry[server,tracing]'); "
            "not exporting",
            exc.name,
        )
        return None


class TracedStore:
    """An ArtifactStore whose calls are spans (``artifacts.<operation>``).

    Streams are spans from their first chunk to their end, not made current:
    a generator suspended between chunks must not leave its span attached to
    whatever the thread runs next."""

    def __init__(self, store: ArtifactStore, tracer: Tracer) -> None:
        self._store = store
        self._tracer = tracer
        self.max_key_bytes = store.max_key_bytes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        with self._tracer.start_as_current_span("artifacts.put_stream") as span:
            stored = self._store.put_stream(key, chunks)
            span.set_attribute("artifact.size", stored.size)
            return stored

    def open_stream(self, key: str, offset: int = 0) -> Iterator[bytes]:
        # Called at once, so that a store raising KeyError on the call still does.
        span = self._tracer.start_span(
            "artifacts.open_stream", attributes={"artifact.offset": offset}
        )
        try:
            stream = self._store.open_stream(key, offset)
        except BaseException as exc:
            span.record_exception(exc)
            span.end()
            raise
        return _spanned(stream, span)

    def size(self, key: str) -> int | None:
        with self._tracer.start_as_current_span("artifacts.size"):
            return self._store.size(key)

    def presign_get(self, key: str, expires_seconds: int) -> str | None:
        with self._tracer.start_as_current_span("artifacts.presign_get"):
            return self._store.presign_get(key, expires_seconds)

    def delete_key(self, key: str) -> None:
        with self._tracer.start_as_current_span("artifacts.delete_key"):
            self._store.delete_key(key)

    def delete_prefix(self, prefix: str) -> int:
        with self._tracer.start_as_current_span("artifacts.delete_prefix"):
            return self._store.delete_prefix(prefix)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        span = self._tracer.start_span("artifacts.list_keys")
        try:
            keys = self._store.list_keys(prefix)
        except BaseException:
            span.end()
            raise
        return _spanned(keys, span)

    def describe(self) -> str:
        return self._store.describe()


def _spanned(items: Iterator[Any], span: Any) -> Iterator[Any]:
    """``items``, with ``span`` ended when they end (or fail, or are dropped)."""
    try:
        yield from items
    except BaseException as exc:
        if not isinstance(exc, GeneratorExit):
            span.record_exception(exc)
        raise
    finally:
        span.end()
