"""/metrics on the side port counts what the server did: exact counts after known
calls of each kind (unary, client stream, server stream), the status codes
clients got, artifact bytes, open watch streams, authentication failures by
reason; label values stay bounded whatever paths callers send.

The server runs in this process (SQLite, authentication on), so counters are
shared with any other measured server of the session: every test compares a
scrape before its calls with one after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.scrape import label_values, scrape, value
from support.waiting import wait_until
from support.webhook_receiver import receiver

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_api.rpcs import RPCS
from registry_client import RegistryClient
from registry_server import migrate
from registry_server.config import ServerConfig
from registry_server.server import RunningServer, package_version, start

SERVICE = "modelregistry.v1.ModelRegistry"
ADMIN_SECRET = "metrics-test-admin-secret-0123456789abcdef"
AUTH = (("authorization", f"Bearer {ADMIN_SECRET}"),)
MODEL = "metrics-model"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("metrics")
    running = start(
        ServerConfig(
            database_url=f"sqlite:///{folder / 'registry.db'}",
            artifact_store=str(folder / "artifacts"),
            listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            require_auth=True,
            bootstrap_admin_token=ADMIN_SECRET,
            allow_insecure_webhooks=True,
            allow_private_webhooks=True,
        )
    )
    # One READY version with one file, and an alias on it.
    files = folder / "model"
    files.mkdir()
    (files / "weights.bin").write_bytes(b"w" * 300_000)
    with RegistryClient(f"127.0.0.1:{running.port}", token=ADMIN_SECRET) as client:
        client.create_registered_model(MODEL)
        client.log_model_version(MODEL, files)
        client.set_registered_model_alias(MODEL, "champion", 1)
    yield running
    running.stop(0)


@pytest.fixture
def stub(server: RunningServer) -> Iterator[registry_pb2_grpc.ModelRegistryStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield registry_pb2_grpc.ModelRegistryStub(channel)


def grpc_labels(method: str, grpc_type: str = "unary") -> dict[str, str]:
    return {"grpc_type": grpc_type, "grpc_service": SERVICE, "grpc_method": method}


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_unary_calls_are_counted_by_method_and_code(
    server: RunningServer, stub: registry_pb2_grpc.ModelRegistryStub
) -> None:
    port = server.http.port  # type: ignore[union-attr]
    before = scrape(port)
    for _ in range(5):
        stub.GetRegisteredModel(pb.GetRegisteredModelRequest(name=MODEL), metadata=AUTH)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as failed:
            stub.GetRegisteredModel(pb.GetRegisteredModelRequest(name="no-such"), metadata=AUTH)
        assert failed.value.code() is grpc.StatusCode.NOT_FOUND
    after = scrape(port)

    labels = grpc_labels("GetRegisteredModel")
    assert delta(before, after, "grpc_server_started_total", **labels) == 8
    assert delta(before, after, "grpc_server_handled_total", **labels, grpc_code="OK") == 5
    assert delta(before, after, "grpc_server_handled_total", **labels, grpc_code="NOT_FOUND") == 3
    assert delta(before, after, "grpc_server_handling_seconds_count", **labels) == 8
    # Unary calls count no messages (those are for streams).
    assert delta(before, after, "grpc_server_msg_received_total", **labels) == 0


def test_hot_lookups_are_timed_by_statement(
    server: RunningServer, stub: registry_pb2_grpc.ModelRegistryStub
) -> None:
    port = server.http.port  # type: ignore[union-attr]
    before = scrape(port)
    request = pb.GetModelVersionByAliasRequest(name=MODEL, alias="champion")
    for _ in range(4):
        stub.GetModelVersionByAlias(request, metadata=AUTH)
    after = scrape(port)
    statement = {"statement": "version_by_alias"}
    assert delta(before, after, "registry_db_statement_seconds_count", **statement) == 4
    # SQLite has one pool (the write pool): every call checked a connection out.
    assert delta(before, after, "registry_db_pool_wait_seconds_count", pool="write") >= 4
    assert value(after, "registry_db_pool_size", pool="write") > 0
    assert value(after, "registry_db_pool_in_use", pool="write") >= 0


def test_client_stream_counts_messages_and_uploaded_bytes(
    server: RunningServer, stub: registry_pb2_grpc.ModelRegistryStub
) -> None:
    port = server.http.port  # type: ignore[union-attr]
    version = stub.CreateModelVersion(
        pb.CreateModelVersionRequest(name=MODEL, registry_held_artifacts=True), metadata=AUTH
    ).model_version.version
    chunks = [b"a" * 1000, b"b" * 2000, b"c" * 500]

    def requests() -> Iterator[pb.UploadArtifactRequest]:
        header = pb.UploadArtifactRequest.Header(name=MODEL, version=version, path="f.bin")
        yield pb.UploadArtifactRequest(header=header)
        for chunk in chunks:
            yield pb.UploadArtifactRequest(chunk=chunk)

    before = scrape(port)
    reply = stub.UploadArtifact(requests(), metadata=AUTH)
    after = scrape(port)

    assert reply.file.size == 3500
    labels = grpc_labels("UploadArtifact", "client_stream")
    assert delta(before, after, "grpc_server_started_total", **labels) == 1
    assert delta(before, after, "grpc_server_handled_total", **labels, grpc_code="OK") == 1
    assert delta(before, after, "grpc_server_msg_received_total", **labels) == 4
    assert delta(before, after, "grpc_server_msg_sent_total", **labels) == 1
    assert delta(before, after, "registry_artifact_bytes_total", direction="upload") == 3500


def test_server_stream_counts_messages_and_downloaded_bytes(
    server: RunningServer, stub: registry_pb2_grpc.ModelRegistryStub
) -> None:
    port = server.http.port  # type: ignore[union-attr]
    request = pb.DownloadArtifactRequest(name=MODEL, version=1, path="weights.bin")
    before = scrape(port)
    replies = list(stub.DownloadArtifact(request, metadata=AUTH))
    after = scrape(port)

    data = b"".join(r.chunk for r in replies)
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(b"w" * 300_000).hexdigest()
    labels = grpc_labels("DownloadArtifact", "server_stream")
    assert delta(before, after, "grpc_server_started_total", **labels) == 1
    assert delta(before, after, "grpc_server_handled_total", **labels, grpc_code="OK") == 1
    assert delta(before, after, "grpc_server_msg_received_total", **labels) == 1
    assert delta(before, after, "grpc_server_msg_sent_total", **labels) == len(replies)
    assert delta(before, after, "registry_artifact_bytes_total", direction="download") == 300_000


def test_open_watch_streams_are_a_gauge_and_a_cancelled_one_is_counted(
    server: RunningServer, stub: registry_pb2_grpc.ModelRegistryStub
) -> None:
    port = server.http.port  # type: ignore[union-attr]
    before = scrape(port)
    request = pb.WatchModelEventsRequest(name=MODEL, from_beginning=True)
    stream = stub.WatchModelEvents(request, metadata=AUTH)
    next(stream)  # the stream is open
    opened = scrape(port)
    assert value(opened, "registry_watch_streams") == value(before, "registry_watch_streams") + 1
    stream.cancel()
    labels = grpc_labels("WatchModelEvents", "server_stream")
    after = wait_until(
        lambda: (
            s
            if delta(
                before,
                s := scrape(port),
                "grpc_server_handled_total",
                **labels,
                grpc_code="CANCELLED",
            )
            == 1
            else None
        ),
        what="the cancelled stream counted",
    )
    assert value(after, "registry_watch_streams") == value(before, "registry_watch_streams")
    assert delta(before, after, "grpc_server_started_total", **labels) == 1
    assert delta(before, after, "grpc_server_msg_sent_total", **labels) >= 1


def test_authentication_failures_are_counted_by_reason(
    server: RunningServer, stub: registry_pb2_grpc.ModelRegistryStub
) -> None:
    port = server.http.port  # type: ignore[union-attr]
    with RegistryClient(f"127.0.0.1:{server.port}", token=ADMIN_SECRET) as admin:
        revoked = admin.create_access_token("metrics-revoked", "reader")
        admin.revoke_access_token(revoked.token.token_id)
    request = pb.GetRegisteredModelRequest(name=MODEL)
    attempts = {
        "missing": (),
        "malformed": (("authorization", "Basic abc"),),
        "unknown": (("authorization", "Bearer not-a-token-we-made"),),
        "revoked": (("authorization", f"Bearer {revoked.secret}"),),
        "multiple": AUTH + AUTH,
    }
    before = scrape(port)
    for metadata in attempts.values():
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetRegisteredModel(request, metadata=metadata)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    after = scrape(port)

    for reason in attempts:
        assert delta(before, after, "registry_auth_failures_total", reason=reason) == 1, reason
    assert delta(before, after, "registry_auth_failures_total", reason="expired") == 0
    labels = grpc_labels("GetRegisteredModel")
    assert (
        delta(before, after, "grpc_server_handled_total", **labels, grpc_code="UNAUTHENTICATED")
        == 5
    )
    # No secret, not even the revoked one's, shows up in the metrics.
    text = "\n".join(str(key) for key in after)
    assert revoked.secret not in text and ADMIN_SECRET not in text


def test_label_values_stay_bounded_whatever_paths_callers_send(server: RunningServer) -> None:
    port = server.http.port  # type: ignore[union-attr]
    before = scrape(port)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        for i in range(10):
            for path in (f"/{SERVICE}/NoSuchMethod{i}", f"/evil{i}.Service/{MODEL}{i}"):
                call = channel.unary_unary(path)
                with pytest.raises(grpc.RpcError) as failed:
                    call(b"", metadata=AUTH)
                assert failed.value.code() is grpc.StatusCode.UNIMPLEMENTED
    after = scrape(port)

    unknown = {"grpc_type": "unary", "grpc_service": "unknown", "grpc_method": "unknown"}
    assert delta(before, after, "grpc_server_started_total", **unknown) == 20
    assert (
        delta(before, after, "grpc_server_handled_total", **unknown, grpc_code="UNIMPLEMENTED")
        == 20
    )
    allowed = set(RPCS) | {"unknown", "Check", "Watch", "ServerReflectionInfo"}
    for name in ("grpc_server_started_total", "grpc_server_handled_total"):
        assert label_values(after, name, "grpc_method") <= allowed
        assert label_values(after, name, "grpc_service") <= {
            SERVICE,
            "unknown",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        }
    # The model's name is nowhere among the label values.
    assert not any(MODEL in v for (_, labels) in after for _, v in labels)


def test_build_info_and_webhook_backlog_are_exposed(server: RunningServer) -> None:
    samples = scrape(server.http.port)  # type: ignore[union-attr]
    assert (
        value(
            samples,
            "registry_build_info",
            version=package_version(),
            schema_revision=migrate.head_revision(),
        )
        == 1
    )
    # Read from the database at scrape time.
    assert ("registry_webhook_deliveries_pending", frozenset()) in samples
    for outcome in ("delivered", "retry", "failed"):
        assert ("registry_webhook_deliveries_total", frozenset({("outcome", outcome)})) in samples


def test_the_scrape_is_prometheus_text(server: RunningServer, tmp_path: Path) -> None:
    from support.scrape import get

    status, text = get(server.http.port, "/metrics")  # type: ignore[union-attr]
    assert status == 200
    assert "# TYPE grpc_server_handling_seconds histogram" in text
    assert "# TYPE grpc_server_started_total counter" in text


def test_webhook_deliveries_are_counted_by_outcome_and_the_backlog_is_read_when_scraped(
    server: RunningServer,
) -> None:
    port = server.http.port  # type: ignore[union-attr]
    before = scrape(port)
    with (
        receiver("metrics-webhook-secret") as hook,
        RegistryClient(f"127.0.0.1:{server.port}", token=ADMIN_SECRET) as admin,
    ):
        admin.create_webhook(hook.url, models=["hooked"], secret="metrics-webhook-secret")
        # Nothing listens on port 9: every attempt fails and is retried later.
        nowhere = admin.create_webhook("http://127.0.0.1:9/nowhere", models=["hooked"])
        admin.create_registered_model("hooked")
        wait_until(lambda: hook.delivered(), what="the delivery")

        def counted() -> dict | None:
            after = scrape(port)
            retried = delta(before, after, "registry_webhook_deliveries_total", outcome="retry")
            return after if retried >= 1 else None

        after = wait_until(counted, what="the failed attempt counted")
        assert delta(before, after, "registry_webhook_deliveries_total", outcome="delivered") == 1
        assert delta(before, after, "registry_webhook_deliveries_total", outcome="failed") == 0
        # The refused delivery waits for its next attempt: pending in the database.
        assert delta(before, after, "registry_webhook_deliveries_pending") == 1
        admin.delete_webhook(nowhere.webhook.webhook_id)


def test_concurrent_calls_are_counted_exactly(server: RunningServer) -> None:
    """Many worker threads tally at once (registry_server/tallies.py): none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    port = server.http.port  # type: ignore[union-attr]
    before = scrape(port)

    def calls(_: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = registry_pb2_grpc.ModelRegistryStub(channel)
            for _ in range(40):
                stub.GetModelVersion(
                    pb.GetModelVersionRequest(name=MODEL, version=1), metadata=AUTH
                )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(calls, range(8)))
    after = scrape(port)
    labels = grpc_labels("GetModelVersion")
    assert delta(before, after, "grpc_server_started_total", **labels) == 320
    assert delta(before, after, "grpc_server_handled_total", **labels, grpc_code="OK") == 320
    assert delta(before, after, "grpc_server_handling_seconds_count", **labels) == 320
