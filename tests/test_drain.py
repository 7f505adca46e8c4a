"""Draining on SIGTERM (api/drain.py, RunningServer.drain, serve_forever):
/healthz answers 503 at once, new calls get UNAVAILABLE (never CANCELLED),
a call in flight finishes, watch streams end with UNAVAILABLE, and the process
exits 0 once the in-flight call is done. The busy version, with calls racing
the signal, is test_faults.py::test_sigterm_under_load."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.net import free_port
from support.scrape import healthz, scrape
from support.server_process import server_process
from support.waiting import wait_until

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import RegistryClient
from registry_server.api.drain import DRAINING_MESSAGE
from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start

WAIT = 30.0


def _held_upload(
    name: str, version: int, release: threading.Event
) -> Iterator[pb.UploadArtifactRequest]:
    """An upload that sends its header, then its one chunk only once released."""
    header = pb.UploadArtifactRequest.Header(name=name, version=version, path="held.bin")
    yield pb.UploadArtifactRequest(header=header)
    release.wait(WAIT)
    yield pb.UploadArtifactRequest(chunk=b"data")


def _pending(client: RegistryClient, name: str) -> int:
    client.create_registered_model(name)
    return client.create_model_version(name, registry_held_artifacts=True).version


def _refused(stub: registry_pb2_grpc.ModelRegistryStub, name: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetRegisteredModel(pb.GetRegisteredModelRequest(name=name), timeout=5)
    return refused.value


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[RunningServer]:
    config = ServerConfig(
        database_url=f"sqlite:///{tmp_path / 'r.db'}",
        artifact_store=str(tmp_path / "artifacts"),
        listen="127.0.0.1:0",
    )
    running = start(config)
    yield running
    running.stop(grace=1)


def test_a_drain_refuses_new_calls_with_unavailable_and_waits_for_the_call_in_flight(
    embedded: RunningServer,
) -> None:
    target = f"127.0.0.1:{embedded.port}"
    gate = embedded.drain_gate
    assert gate is not None
    release = threading.Event()
    with RegistryClient(target) as client, grpc.insecure_channel(target) as channel:
        version = _pending(client, "drained")
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        upload = stub.UploadArtifact.future(_held_upload("drained", version, release), timeout=WAIT)
        wait_until(lambda: gate.in_flight == 1, 10, what="the upload in flight")
        # A grace period that ends first: the drain says the call is still running.
        assert embedded.drain(0.05) is False
        assert embedded.serving.draining
        refused = _refused(stub, "drained")
        assert refused.code() is grpc.StatusCode.UNAVAILABLE
        assert refused.details() == DRAINING_MESSAGE
        # Probes read NOT_SERVING, not an error.
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        drained = threading.Thread(target=lambda: embedded.drain(WAIT))
        drained.start()
        release.set()
        assert upload.result(timeout=WAIT).file.size == 4  # finished after the drain began
        drained.join(WAIT)
        assert not drained.is_alive()
        assert gate.in_flight == 0


@pytest.mark.slow
def test_sigterm_drains_a_server_process(tmp_path: Path) -> None:
    http_port = free_port()
    env = {"REGISTRY_HTTP_LISTEN": f"127.0.0.1:{http_port}"}
    release = threading.Event()
    with server_process(
        f"sqlite:///{tmp_path / 'r.db'}",
        str(tmp_path / "artifacts"),
        tmp_path / "server.log",
        log_level="INFO",
        env=env,
    ) as server:
        with RegistryClient(server.target) as client, grpc.insecure_channel(server.target) as ch:
            version = _pending(client, "drained")
            stub = registry_pb2_grpc.ModelRegistryStub(ch)
            assert healthz(http_port) == 200
            upload = stub.UploadArtifact.future(
                _held_upload("drained", version, release), timeout=WAIT
            )
            watch = stub.WatchModelEvents(pb.WatchModelEventsRequest(), timeout=WAIT)
            next(watch)  # the stream is open (its first heartbeat or event)

            def started(method: str) -> bool:
                return any(
                    value >= 1
                    for (name, labels), value in scrape(http_port).items()
                    if name == "grpc_server_started_total" and ("grpc_method", method) in labels
                )

            wait_until(lambda: started("UploadArtifact"), 10, what="the upload in flight")
            server.process.send_signal(signal.SIGTERM)
            wait_until(lambda: healthz(http_port) == 503, 5, what="/healthz 503 after SIGTERM")
            refused = _refused(stub, "drained")
            assert refused.code() is grpc.StatusCode.UNAVAILABLE, refused
            assert refused.details() == DRAINING_MESSAGE
            # The watch stream ends with UNAVAILABLE, so its client resumes elsewhere.
            with pytest.raises(grpc.RpcError) as ended:
                for _ in watch:
                    pass
            assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
            assert server.process.poll() is None  # the upload is still in flight
            release.set()
            assert upload.result(timeout=WAIT).file.size == 4
            assert server.process.wait(timeout=WAIT) == 0
        log = server.log()
    assert "stopped" in log
    assert "still in flight" not in log
