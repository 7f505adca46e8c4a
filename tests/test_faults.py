"""Faults in the middle of load: PostgreSQL restarted, the S3 endpoint down, SIGTERM.

Each test runs the mixed workload of support/load.py against `registry-server serve` in its own
process, breaks something while the clients are calling, and checks three things: callers only
ever see UNAVAILABLE (never INTERNAL, never a hang past their deadline), the server comes back
by itself, and nothing acknowledged is lost (support/load_checks.py).

The PostgreSQL restart needs a cluster the test may stop: a throwaway one from the local server
binaries (tests/support/postgres.py), never the shared server of REGISTRY_TEST_DATABASE_URL.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from conftest import s3_store_url
from sqlalchemy.pool import NullPool
from support.load import Ledger, LoadRunner, seed_models
from support.load_checks import verify
from support.postgres import (
    PostgresUnavailableError,
    StoppableCluster,
    stoppable_cluster,
    temporary_database,
)
from support.s3 import S3Endpoint, moto_s3_server
from support.server_process import server_process
from support.waiting import wait_until

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import RegistryClient, RegistryError, Unavailable
from registry_server import migrate
from registry_server.config import ServerConfig
from registry_server.store.database import make_engine

pytestmark = pytest.mark.slow

#: Deadline of the load's calls during faults: short, so a hang would show as DEADLINE_EXCEEDED.
CALL_TIMEOUT = 3.0
#: What `serve` gives in-flight calls after SIGTERM.
GRACE_SECONDS = ServerConfig(database_url="sqlite:///unused.db").grace_seconds
#: Successful calls the load makes before (and after) each fault: proof that it runs.
WARM_CALLS = 50


def _ledger(prefix: str, models: int = 4) -> Ledger:
    return Ledger(tuple(f"{prefix}-{uuid.uuid4().hex[:8]}-{i}" for i in range(models)))


def _refused_quickly(call: Callable[[], object], limit: float = 3.0) -> None:
    """``call`` (made with a 2 s deadline) fails with UNAVAILABLE well within ``limit``."""
    started = time.monotonic()
    with pytest.raises(Unavailable):
        call()
    assert time.monotonic() - started < limit


def _answering(target: str) -> bool:
    with RegistryClient(target, timeout=2, max_attempts=1) as probe:
        try:
            probe.search_registered_models(max_results=1)
        except Unavailable:
            return False
    return True


def _refusing(target: str, model: str) -> bool:
    """A new call is refused with UNAVAILABLE (False while the server still takes calls)."""
    with RegistryClient(target, timeout=2, max_attempts=1) as probe:
        try:
            probe.get_registered_model(model)
        except Unavailable:
            return True
        except RegistryError:
            return False
    return False


# --------------------------------------------------------------------- PostgreSQL restarts


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[StoppableCluster]:
    with ExitStack() as stack:
        try:
            cluster = stack.enter_context(stoppable_cluster())
        except PostgresUnavailableError as exc:
            pytest.skip(f"no throwaway PostgreSQL cluster to restart: {exc}")
        yield cluster


@dataclass(frozen=True)
class Outage:
    mode: str
    down: float  # PostgreSQL was asked to stop (time.monotonic())
    up: float  # it accepts connections again
    recovered: float  # the first call through the registry succeeded


def _outage(cluster: StoppableCluster, mode: str, target: str, model: str) -> Outage:
    """Stop PostgreSQL, check how the registry answers meanwhile, start it, wait for recovery."""
    down = time.monotonic()
    cluster.stop(mode)
    # UNAVAILABLE within the deadline, reads and writes, with and without the client's retries,
    # through the typed client and on the wire.
    with RegistryClient(target, timeout=2, max_attempts=1) as once:
        _refused_quickly(lambda: once.resolve(f"models:/{model}/latest"))
    with grpc.insecure_channel(target) as channel:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.GetRegisteredModel(pb.GetRegisteredModelRequest(name=model), timeout=2)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value
        assert time.monotonic() - started < 3.0
    with RegistryClient(target, timeout=2) as retrying:
        _refused_quickly(lambda: retrying.create_model_version(model, source="s3://x"))
    cluster.start()
    up = time.monotonic()
    wait_until(lambda: _answering(target), 15, what=f"recovery after the {mode} restart")
    return Outage(mode, down, up, time.monotonic())


def test_postgres_restarts_under_load(own_cluster: StoppableCluster, tmp_path: Path) -> None:
    """Two outages in one run: `pg_ctl stop -m fast` ends every session politely, `-m immediate`
    kills the server without a shutdown checkpoint, like a crash. The server is never
    restarted; it must ride out both."""
    outages: list[Outage] = []
    with temporary_database(own_cluster.url, prefix="registry_faults") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        # INFO: the log then names every failed call with its status message.
        with server_process(
            url, str(tmp_path / "artifacts"), tmp_path / "server.log", log_level="INFO"
        ) as server:
            ledger = _ledger("pg-restart")
            with RegistryClient(server.target) as client:
                seed_models(client, ledger)
            runner = LoadRunner(server.target, ledger, clients=8, timeout=CALL_TIMEOUT)
            runner.start()
            try:
                runner.wait_for_calls(WARM_CALLS)
                for mode in ("fast", "immediate"):
                    outages.append(_outage(own_cluster, mode, server.target, ledger.models[0]))
                    # The checks below look at calls from 0.5 s after recovery on.
                    runner.wait_for_calls(WARM_CALLS, since=outages[-1].recovered + 0.5)
            finally:
                result = runner.stop()
            with RegistryClient(server.target) as client:
                problems = verify(client, ledger, complete=False)
            log = server.log()

    print(f"\n{result.table()}")
    for outage in outages:
        print(f"{outage.mode}: recovered {outage.recovered - outage.up:.2f} s after restart")
    assert result.hung_clients == 0
    # Callers only ever saw UNAVAILABLE, and never waited past their deadline.
    failed_calls = "".join(line for line in log.splitlines(True) if "registry_server.calls" in line)
    assert {r.code for r in result.failures()} <= {"UNAVAILABLE"}, (
        result.table() + failed_calls[-5000:]
    )
    assert max(r.elapsed for r in result.records) < CALL_TIMEOUT + 1.0
    for outage, following in zip(outages, [*outages[1:], None], strict=True):
        assert any(r.code == "UNAVAILABLE" for r in result.between(outage.down, outage.up))
        # Once one call got through, all did: no broken pooled connections were left behind.
        until = following.down if following else float("inf")
        after = [
            r
            for r in result.between(outage.recovered + 0.5)
            if r.started + r.elapsed < until  # over before the next outage began
        ]
        assert after, f"no calls after the {outage.mode} restart"
        assert [r for r in after if r.failed] == [], outage.mode
    # Nothing acknowledged was lost; numbering stayed gapless.
    assert problems == []
    assert "unhandled error" not in log and "Traceback" not in log, log[-4000:]


# ------------------------------------------------------------------------- S3 endpoint down


def test_s3_down_under_load(pg_database_url: str, s3: S3Endpoint, tmp_path: Path) -> None:
    """Uploads fail with UNAVAILABLE and leave their versions pending while the metadata
    traffic carries on without a single error (tests/test_artifact_faults.py covers one
    upload's protocol in detail; this is the same outage with everything else going on).

    `s3` is only asked for so the AWS_* credentials are set for the server.
    """
    payload = tmp_path / "model.bin"
    payload.write_bytes(os.urandom(64 * 1024))
    ledger = _ledger("s3-down", models=2)
    uploads_model = f"s3-down-uploads-{uuid.uuid4().hex[:8]}"
    outcomes: list[tuple[float, int, str]] = []  # (finished, version, READY | UNAVAILABLE)
    with ExitStack() as moto_life:
        endpoint = moto_life.enter_context(moto_s3_server())
        port = int(endpoint.endpoint.rsplit(":", 1)[1])
        store = s3_store_url(endpoint, "load-flaky")
        with server_process(pg_database_url, store, tmp_path / "server.log") as server:
            with RegistryClient(server.target) as client:
                seed_models(client, ledger)
                client.create_registered_model(uploads_model)
            stop_uploads = threading.Event()

            def upload_loop() -> None:
                with RegistryClient(server.target, max_attempts=1, timeout=5) as uploader:
                    while not stop_uploads.is_set():
                        version = 0
                        try:
                            version = uploader.create_model_version(
                                uploads_model, registry_held_artifacts=True
                            ).version
                            entry = uploader.upload_artifact(uploads_model, version, payload)
                            uploader.finalize_model_version(uploads_model, version, [entry])
                            outcomes.append((time.monotonic(), version, "READY"))
                        except Unavailable:
                            outcomes.append((time.monotonic(), version, "UNAVAILABLE"))
                            time.sleep(0.1)
                        except Exception as exc:  # shown by the assertion on outcomes below
                            outcomes.append((time.monotonic(), version, repr(exc)))
                            return

            uploads = threading.Thread(target=upload_loop, daemon=True)
            runner = LoadRunner(server.target, ledger, clients=4)
            runner.start()
            uploads.start()
            try:
                wait_until(lambda: any(o == "READY" for _, _, o in outcomes), 30)
                runner.wait_for_calls(WARM_CALLS)
                down = time.monotonic()
                moto_life.close()  # the endpoint goes away
                wait_until(
                    lambda: any(t >= down and o == "UNAVAILABLE" for t, _, o in outcomes),
                    30,
                    what="an upload meeting the outage",
                )
                runner.wait_for_calls(WARM_CALLS, since=down)  # metadata calls carry on
                with moto_s3_server(port=port):  # back on the same port, empty
                    up = time.monotonic()

                    def uploads_back() -> bool:
                        assert uploads.is_alive(), outcomes
                        return any(t > up and o == "READY" for t, _, o in outcomes)

                    wait_until(uploads_back, 15, what="uploads coming back")
                    stop_uploads.set()
                    uploads.join(timeout=30)
            finally:
                stop_uploads.set()
                result = runner.stop()
            with RegistryClient(server.target) as client:
                problems = verify(client, ledger, complete=True)
                status = {
                    v.version: v.status
                    for v in client.iter_model_versions(f"name = '{uploads_model}'")
                }
            log = server.log()

    print(f"\n{result.table()}")
    assert not uploads.is_alive()
    assert {o for _, _, o in outcomes} <= {"READY", "UNAVAILABLE"}, outcomes
    assert result.failures() == [], result.table()
    assert problems == []
    failed = [v for t, v, o in outcomes if o == "UNAVAILABLE"]
    assert failed, "no upload met the outage"
    assert 0 not in failed, "creating a version failed although only S3 was down"
    assert all(down <= t for t, _, o in outcomes if o == "UNAVAILABLE"), (down, outcomes)
    assert {status[v] for v in failed} == {"PENDING_REGISTRATION"}
    assert {status[v] for t, v, o in outcomes if o == "READY"} == {"READY"}
    assert "unhandled error" not in log, log[-4000:]


# ---------------------------------------------------------------------------- SIGTERM


def _waiting_on_locks(database_url: str) -> int:
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_sigterm_under_load(
    pg_database_url: str, pg_client: RegistryClient, tmp_path: Path
) -> None:
    """tests/test_server.py checks one blocked call on SQLite; here the server is busy: calls
    in flight at SIGTERM finish OK, later ones are refused with UNAVAILABLE and write nothing,
    and the process exits 0 within the grace period."""
    ledger = _ledger("sigterm")
    held = _ledger("sigterm-held", models=1)
    held_model = held.models[0]
    in_flight: dict[int, int | Exception] = {}
    with server_process(pg_database_url, str(tmp_path / "artifacts"), tmp_path / "log") as server:
        with RegistryClient(server.target) as client:
            seed_models(client, ledger)
            seed_models(client, held)

        def create_held(index: int) -> None:
            with RegistryClient(server.target, timeout=30, max_attempts=1) as own:
                source = f"s3://in-flight/{index}"
                try:
                    version = own.create_model_version(held_model, source=source).version
                except Exception as exc:
                    in_flight[index] = exc
                    return
                in_flight[index] = version
                held.ack_version(held_model, version, source)

        runner = LoadRunner(server.target, ledger, clients=12, max_attempts=1, timeout=20)
        locker = sa.create_engine(pg_database_url, poolclass=NullPool)
        threads = [threading.Thread(target=create_held, args=(i,)) for i in range(4)]
        try:
            with locker.connect() as conn, conn.begin():
                # Hold the model's row lock: creates on it stay in flight inside the server.
                conn.execute(
                    sa.text("SELECT id FROM registered_models WHERE name = :n FOR UPDATE"),
                    {"n": held_model},
                )
                for thread in threads:
                    thread.start()
                wait_until(
                    lambda: _waiting_on_locks(pg_database_url) >= len(threads),
                    10,
                    what="the held creates waiting on the row lock",
                )
                runner.start()
                runner.wait_for_calls(WARM_CALLS)
                term = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                wait_until(
                    lambda: _refusing(server.target, ledger.models[0]),
                    5,
                    what="new calls refused after SIGTERM",
                )
                refusing = time.monotonic()
                with RegistryClient(server.target, timeout=2, max_attempts=1) as late:
                    _refused_quickly(lambda: late.get_registered_model(ledger.models[0]))
                # Calls keep arriving while the held ones are still in flight.
                runner.wait_for_calls(len(threads), since=refusing, code="UNAVAILABLE")
            # The lock is released: the held calls may now finish, within the grace period.
            code = server.process.wait(timeout=GRACE_SECONDS + 5)
            exited = time.monotonic()
        finally:
            for thread in threads:
                thread.join(timeout=30)
            result = runner.stop()
            locker.dispose()
        log = server.log()

    print(f"\n{result.table()}\nexited {exited - term:.2f} s after SIGTERM")
    assert code == 0, log[-4000:]
    assert exited - term < GRACE_SECONDS, log[-6000:]
    assert all(isinstance(v, int) for v in in_flight.values()), in_flight
    assert sorted(in_flight.values()) == [3, 4, 5, 6]  # type: ignore[type-var]
    assert result.hung_clients == 0
    # Never CANCELLED (which clients do not retry). It was, now and then: gRPC's graceful
    # stop cancels calls that reached the server but not yet a handler when it begins
    # (grpc-core "zombifies" them). The server now drains in front of it (api/drain.py):
    # refuses new calls with UNAVAILABLE while the held ones finish, then exits without
    # grpc's stop, so a call racing the exit meets a closed connection: UNAVAILABLE.
    assert {r.code for r in result.failures()} <= {"UNAVAILABLE"}, result.table()
    late_calls = result.between(refusing)
    assert late_calls, "no calls after SIGTERM"
    assert {r.code for r in late_calls} == {"UNAVAILABLE"}
    assert any(r.code == "OK" for r in result.between(term - 1.0, term))
    # Refused calls wrote nothing; everything acknowledged is there, exactly once.
    assert verify(pg_client, ledger, complete=True) == []
    assert verify(pg_client, held, complete=True) == []
    assert "unhandled error" not in log, log[-4000:]
