"""OpenTelemetry tracing (registry_server/tracing.py, the client's traceparent).

A server started in this process with tracing on exports to an in-memory
exporter; the client runs under a tracer provider of its own, as a CI job
would. The spans must chain: the client's span -> the server's RPC span ->
its database statements and artifact store calls.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from registry_client import NotFound, RegistryClient
from registry_client._transport import _trace_context
from registry_server import tracing
from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _traced_server(database_url: str, store: str, exporter: InMemorySpanExporter) -> RunningServer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = ServerConfig(database_url=database_url, artifact_store=store, listen="127.0.0.1:0")
    return start(config, tracing=tracing.Tracing(provider, owns_provider=True))


@pytest.fixture
def traced_sqlite(tmp_path: Path, exported: InMemorySpanExporter) -> Iterator[RunningServer]:
    running = _traced_server(
        f"sqlite:///{tmp_path / 'registry.db'}", str(tmp_path / "artifacts"), exported
    )
    yield running
    running.stop(grace=1)


def _client_tracer() -> tuple[trace.Tracer, InMemorySpanExporter]:
    """The CI job's side: its own provider (not the global one, not the server's)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("ci-job"), exporter


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    parent_id = parent.context.span_id
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent_id]


def _rpc_span(spans: list[ReadableSpan], method: str) -> ReadableSpan:
    matching = [s for s in spans if s.name.endswith(f"/{method}")]
    assert len(matching) == 1, [s.name for s in spans]
    return matching[0]


def _check_chain(
    running: RunningServer, exported: InMemorySpanExporter, statement_prefix: str
) -> None:
    tracer, client_spans = _client_tracer()
    target = f"127.0.0.1:{running.port}"
    with RegistryClient(target, actor="ci") as client:
        client.create_registered_model("traced")
        client.create_model_version("traced", source="s3://b/traced")
        client.set_registered_model_alias("traced", "champion", 1)
        exported.clear()
        with tracer.start_as_current_span("deploy step") as job:
            mv = client.get_model_version_by_alias("traced", "champion")
            with pytest.raises(NotFound):
                client.get_registered_model("missing")
    assert mv.version == 1
    (job_span,) = client_spans.get_finished_spans()
    spans = list(exported.get_finished_spans())
    server = _rpc_span(spans, "GetModelVersionByAlias")
    # The client's span is the server span's parent: one trace from the CI job on.
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.span_id == job.get_span_context().span_id
    assert server.context.trace_id == job_span.context.trace_id
    assert server.kind is trace.SpanKind.SERVER
    assert server.attributes is not None
    assert server.attributes["rpc.method"] == "GetModelVersionByAlias"
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.OK.value[0]
    statements = _children(spans, server)
    assert statements, [(s.name, s.parent) for s in spans]
    assert all(s.kind is trace.SpanKind.CLIENT for s in statements)
    assert any(s.name.startswith(statement_prefix) for s in statements), [
        s.name for s in statements
    ]
    # A failed call's span carries its status.
    failed = _rpc_span(spans, "GetRegisteredModel")
    assert failed.attributes is not None
    assert failed.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    # (NOT_FOUND is the caller's error: by the semantic conventions a server
    # span's status turns ERROR only for the server's own codes.)
    assert failed.parent is not None and failed.parent.span_id == job_span.context.span_id


def test_client_span_parents_the_server_rpc_span_which_parents_statement_spans_sqlite(
    traced_sqlite: RunningServer, exported: InMemorySpanExporter
) -> None:
    _check_chain(traced_sqlite, exported, "SELECT")


@pytest.mark.slow
def test_prepared_lookups_on_postgresql_are_statement_spans_too(
    empty_pg_database: str, tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    from registry_server import migrate
    from registry_server.store.database import make_engine

    engine = make_engine(empty_pg_database, pool_size=1)
    migrate.upgrade(engine)
    engine.dispose()
    running = _traced_server(empty_pg_database, str(tmp_path / "artifacts"), exported)
    try:
        # get-by-alias runs as a prepared statement's EXECUTE on the cursor.
        _check_chain(running, exported, "EXECUTE registry_q")
    finally:
        running.stop(grace=1)


def test_artifact_store_calls_are_child_spans_of_the_upload(
    traced_sqlite: RunningServer, exported: InMemorySpanExporter, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    with RegistryClient(f"127.0.0.1:{traced_sqlite.port}") as client:
        client.create_registered_model("files")
        client.log_model_version("files", folder)
        exported.clear()
        client.download_artifacts("models:/files/1", tmp_path / "out")
    spans = list(exported.get_finished_spans())
    download = _rpc_span(spans, "DownloadArtifact")
    names = [s.name for s in _children(spans, download)]
    assert "artifacts.open_stream" in names, [s.name for s in spans]


def test_tracing_is_off_unless_the_environment_names_an_exporter() -> None:
    assert tracing.from_env({}) is None
    assert tracing.from_env({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert tracing.from_env({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}) is None
    assert tracing.requested({"OTEL_TRACES_EXPORTER": "otlp, console"}) == ["otlp", "console"]
    on = tracing.from_env({"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "reg-a"})
    assert on is not None
    assert on.provider.resource.attributes["service.name"] == "reg-a"
    on.shutdown()


def test_a_server_without_otel_settings_installs_no_tracing(tmp_path: Path) -> None:
    config = ServerConfig(
        database_url=f"sqlite:///{tmp_path / 'r.db'}",
        artifact_store=str(tmp_path / "a"),
        listen="127.0.0.1:0",
    )
    running = start(config)
    try:
        assert running.tracing is None
        from registry_server.store import prepared

        assert prepared.traced_execute is None
    finally:
        running.stop(grace=1)


def test_the_client_sends_traceparent_only_inside_a_span() -> None:
    assert _trace_context() == ()
    tracer, _ = _client_tracer()
    with tracer.start_as_current_span("job") as span:
        sent = dict(_trace_context())
    context = span.get_span_context()
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert sent["traceparent"] == expected


def test_without_the_tracing_libraries_the_server_serves_untraced_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A module set to None in sys.modules fails to import, as if not installed.
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.grpc", None)
    assert tracing.from_env({"OTEL_TRACES_EXPORTER": "otlp"}) is None
    assert "pip install 'modelregistry[server,tracing]'" in caplog.text


def test_otlp_goes_over_grpc_or_over_http_as_the_protocol_says() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    assert isinstance(tracing._otlp_exporter({}), Grpc)
    http = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    assert isinstance(tracing._otlp_exporter(http), Http)
