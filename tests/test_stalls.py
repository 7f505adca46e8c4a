"""Networks that stall: the server reaches PostgreSQL and S3 through a TCP proxy
(tests/support/proxy.py) that adds latency, resets connections or black-holes them.

Callers must get an answer within their deadline (UNAVAILABLE or DEADLINE_EXCEEDED,
never a hang), and once the network heals the server's pools must serve again by
themselves.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import s3_store_url
from sqlalchemy.engine import make_url
from support.proxy import TcpProxy
from support.s3 import S3Endpoint
from support.waiting import wait_until

from registry_client import AlreadyExists, DeadlineExceeded, RegistryClient, Unavailable
from registry_server import deadline
from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start
from registry_server.store.database import Database, make_engine

pytestmark = pytest.mark.slow

#: The deadline of the calls made while the network is broken.
DEADLINE = 2.0
#: How long past its deadline a call may take to end (a loaded CI machine).
SLACK = 1.5


def _through(proxy: TcpProxy, url: str) -> str:
    return make_url(url).set(host=proxy.host, port=proxy.port).render_as_string(False)


def _server(database_url: str, artifact_store: str) -> RunningServer:
    return start(
        ServerConfig(
            database_url=database_url,
            artifact_store=artifact_store,
            listen="127.0.0.1:0",
            workers=8,
        )
    )


def _ends_by_its_deadline(call: Callable[[], object]) -> None:
    started = time.monotonic()
    with pytest.raises((Unavailable, DeadlineExceeded)):
        call()
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + SLACK, f"the call took {elapsed:.1f} s"


def _recovers(call: Callable[[], object], *, meanwhile: tuple[type[Exception], ...] = ()) -> None:
    """`call` succeeds again soon; until then it fails only as it may while
    the fault's stalled calls still hold what they held."""

    def succeeds() -> bool:
        try:
            call()
        except (Unavailable, DeadlineExceeded, *meanwhile):
            return False
        return True

    wait_until(succeeds, timeout=30, interval=0.2, what="calls succeed after the fault ends")


@pytest.fixture
def pg_proxy(pg_database_url: str) -> Iterator[TcpProxy]:
    url = make_url(pg_database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.fixture
def running_server() -> list[RunningServer]:
    """Where pg_through_proxy puts its server, for tests that look inside it."""
    return []


@pytest.fixture
def pg_through_proxy(
    pg_proxy: TcpProxy, pg_database_url: str, tmp_path: Path, running_server: list[RunningServer]
) -> Iterator[tuple[TcpProxy, RegistryClient, RegistryClient]]:
    """A server whose database is behind the proxy, a client with a short
    deadline and one with a long deadline."""
    server = _server(_through(pg_proxy, pg_database_url), f"file://{tmp_path / 'artifacts'}")
    running_server.append(server)
    target = f"127.0.0.1:{server.port}"
    try:
        with (
            RegistryClient(target, timeout=DEADLINE) as short,
            RegistryClient(target, timeout=30) as patient,
        ):
            yield pg_proxy, short, patient
    finally:
        pg_proxy.pass_through()
        server.stop(0)


def test_a_blackholed_database_ends_calls_by_their_deadline_and_the_pools_recover(
    pg_through_proxy: tuple[TcpProxy, RegistryClient, RegistryClient], model_name: str
) -> None:
    proxy, short, patient = pg_through_proxy
    patient.create_registered_model(model_name)
    proxy.blackhole()
    _ends_by_its_deadline(lambda: short.get_registered_model(model_name))
    _ends_by_its_deadline(lambda: short.update_registered_model(model_name, "stalled"))
    proxy.pass_through()
    _recovers(lambda: short.update_registered_model(model_name, "healed"))
    assert patient.get_registered_model(model_name).description == "healed"


def test_a_blackholed_database_does_not_hold_workers_past_the_deadline(
    pg_through_proxy: tuple[TcpProxy, RegistryClient, RegistryClient],
    model_name: str,
    running_server: list[RunningServer],
) -> None:
    """The watchdog (store/watchdog.py) shuts down a connection still in use a
    second after its call's deadline: the pools have nothing checked out while
    the network is still black-holed."""
    proxy, short, patient = pg_through_proxy
    patient.create_registered_model(model_name)
    database = running_server[0].database
    proxy.blackhole()
    _ends_by_its_deadline(lambda: short.get_registered_model(model_name))
    _ends_by_its_deadline(lambda: short.update_registered_model(model_name, "stalled"))
    pools = (database.engine.pool, database.read_engine.pool)
    wait_until(
        lambda: all(pool.checkedout() == 0 for pool in pools),  # type: ignore[attr-defined]
        timeout=DEADLINE + 10,
        what="stalled connections given back while the black hole lasts",
    )
    assert proxy.mode == "blackhole"
    assert database.watchdog is not None and database.watchdog.fired >= 1
    proxy.pass_through()
    _recovers(lambda: short.update_registered_model(model_name, "healed"))


def test_a_slow_database_still_answers(
    pg_through_proxy: tuple[TcpProxy, RegistryClient, RegistryClient], model_name: str
) -> None:
    proxy, _, patient = pg_through_proxy
    proxy.latency(50)
    patient.create_registered_model(model_name)
    patient.update_registered_model(model_name, "slow")
    assert patient.get_registered_model(model_name).description == "slow"


def test_a_database_that_resets_connections_gives_unavailable_then_recovers(
    pg_through_proxy: tuple[TcpProxy, RegistryClient, RegistryClient], model_name: str
) -> None:
    proxy, short, patient = pg_through_proxy
    patient.create_registered_model(model_name)
    proxy.reset()
    _ends_by_its_deadline(lambda: short.get_registered_model(model_name))
    _ends_by_its_deadline(lambda: short.update_registered_model(model_name, "reset"))
    proxy.pass_through()
    _recovers(lambda: short.update_registered_model(model_name, "back"))
    assert patient.get_registered_model(model_name).description == "back"


def test_a_write_transaction_is_bounded_by_its_calls_deadline(pg_database_url: str) -> None:
    engine = make_engine(pg_database_url, pool_size=1, statement_timeout=30)
    database = Database(engine, statement_timeout=30)
    try:
        with database.read() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "30s"
        deadline.begin(1.5)
        with database.write() as conn:
            ms = int(conn.exec_driver_sql("SHOW statement_timeout").scalar().rstrip("ms"))
            lock_ms = conn.exec_driver_sql("SHOW lock_timeout").scalar()
        assert 1000 < ms <= 1500
        assert lock_ms == f"{ms}ms"
        deadline.end()
        with database.write() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "30s"
    finally:
        deadline.end()
        database.dispose()


@pytest.fixture
def s3_through_proxy(
    s3: S3Endpoint, tmp_path: Path
) -> Iterator[tuple[TcpProxy, RegistryClient, RegistryClient]]:
    host, port = s3.endpoint.rsplit(":", 1)
    with TcpProxy(host, int(port)) as proxy:
        proxied = S3Endpoint(f"{proxy.host}:{proxy.port}", s3.secure, s3.access_key, s3.secret_key)
        server = _server(
            f"sqlite:///{tmp_path / 'registry.db'}", s3_store_url(proxied, "stalls", "t")
        )
        target = f"127.0.0.1:{server.port}"
        try:
            with (
                RegistryClient(target, timeout=DEADLINE, transfer_timeout=DEADLINE) as short,
                RegistryClient(target, timeout=30, transfer_timeout=30) as patient,
            ):
                yield proxy, short, patient
        finally:
            proxy.pass_through()
            server.stop(0)


def _upload(client: RegistryClient, model: str, version: int, tmp_path: Path) -> None:
    payload = tmp_path / "weights.bin"
    payload.write_bytes(b"w" * 100_000)
    client.upload_artifact(model, version, payload)


def _download(client: RegistryClient, model: str, version: int) -> bytes:
    sink = io.BytesIO()
    client.download_artifact(model, version, "weights.bin", sink)
    return sink.getvalue()


@pytest.mark.parametrize("fault", ["blackhole", "reset"])
def test_a_stalled_artifact_store_ends_transfers_by_their_deadline_and_recovers(
    s3_through_proxy: tuple[TcpProxy, RegistryClient, RegistryClient],
    model_name: str,
    tmp_path: Path,
    fault: str,
) -> None:
    proxy, short, patient = s3_through_proxy
    patient.create_registered_model(model_name)
    held = patient.create_model_version(model_name, registry_held_artifacts=True).version
    _upload(patient, model_name, held, tmp_path)
    patient.finalize_model_version(model_name, held, patient.list_artifacts(model_name, held))
    pending = patient.create_model_version(model_name, registry_held_artifacts=True).version
    getattr(proxy, fault)()
    _ends_by_its_deadline(lambda: _download(short, model_name, held))
    _ends_by_its_deadline(lambda: _upload(short, model_name, pending, tmp_path))
    proxy.pass_through()
    # The stalled upload keeps its claim on the path until its S3 request
    # times out too (the call's deadline, per attempt).
    _recovers(lambda: _upload(short, model_name, pending, tmp_path), meanwhile=(AlreadyExists,))
    assert _download(short, model_name, held) == b"w" * 100_000


def test_a_slow_artifact_store_still_transfers(
    s3_through_proxy: tuple[TcpProxy, RegistryClient, RegistryClient],
    model_name: str,
    tmp_path: Path,
) -> None:
    proxy, _, patient = s3_through_proxy
    patient.create_registered_model(model_name)
    version = patient.create_model_version(model_name, registry_held_artifacts=True).version
    proxy.latency(30)
    _upload(patient, model_name, version, tmp_path)
    patient.finalize_model_version(model_name, version, patient.list_artifacts(model_name, version))
    assert proxy.accepted > 0
    assert _download(patient, model_name, version) == b"w" * 100_000
