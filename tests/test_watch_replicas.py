"""Watch streams across replicas: separate `registry-server serve` processes on
one PostgreSQL. A change committed through one reaches watchers on the other
(LISTEN/NOTIFY), exactly once under concurrent writers; a watcher whose server
stops resumes from its cursor on the other without loss or repeats; a
watcher that stops reading is cut off instead of holding memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.postgres import temporary_database
from support.server_process import server_process
from support.watching import Watcher

from registry_client import RegistryClient
from registry_server import migrate
from registry_server.store.database import make_engine

pytestmark = pytest.mark.slow

FAST_HEARTBEAT = {"REGISTRY_WATCH_HEARTBEAT": "0.3"}


@pytest.fixture
def shared_db(pg_server_url: str) -> Iterator[str]:
    with temporary_database(pg_server_url, prefix="registry_replicas") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def ids_after(client: RegistryClient, after: int) -> list[int]:
    return [e.event_id for e in client.iter_model_events(after_event_id=after, page_size=1000)]


def test_a_watcher_on_one_replica_sees_every_change_made_on_the_other_once(
    shared_db: str, tmp_path: Path
) -> None:
    store = str(tmp_path / "artifacts")
    with (
        server_process(shared_db, store, env=FAST_HEARTBEAT) as a,
        server_process(shared_db, store, env=FAST_HEARTBEAT) as b,
    ):
        writer = RegistryClient(a.target)
        names = [f"rep-{i}" for i in range(4)]
        for name in names:
            writer.create_registered_model(name)
            writer.create_model_version(name, source="s3://bucket/x")
        on_b = Watcher(b.target)
        on_b.wait_started()
        start = on_b.cursor
        stop_at = threading.Event()
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                with RegistryClient(a.target) as mine:
                    for i in range(30):
                        name = names[(worker + i) % 4]
                        if i % 3 == 0:
                            mine.set_registered_model_alias(name, f"a{worker}", 1)
                        else:
                            mine.set_registered_model_tag(name, f"w{worker}", str(i))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        # While they write, B stops: a watcher resumes on A from its cursor.
        on_b.wait_for(lambda w: len(w.events) >= 40, what="events before B stops")
        b.process.terminate()
        assert on_b.wait_ended() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        cursor = on_b.cursor
        first_part = on_b.event_ids
        on_b.close()
        on_a = Watcher(a.target, after=cursor)
        for thread in threads:
            thread.join()
        stop_at.set()
        assert not errors
        committed = ids_after(writer, start)
        assert len(committed) >= 160
        on_a.wait_for(lambda w: w.cursor >= committed[-1], what="every committed event")
        assert first_part + on_a.event_ids == committed
        on_a.close()
        writer.close()


def test_a_watcher_that_stops_reading_is_cut_off(shared_db: str, tmp_path: Path) -> None:
    env = {**FAST_HEARTBEAT, "REGISTRY_WATCH_BUFFER": "20"}
    with server_process(shared_db, str(tmp_path / "artifacts"), env=env) as server:
        client = RegistryClient(server.target)
        client.create_registered_model("slow")
        # A raw stream nobody reads: gRPC's flow control fills, the server's
        # thread blocks sending, the mailbox overflows.
        channel = grpc.insecure_channel(
            server.target, options=[("grpc.http2.lookahead_bytes", 1024)]
        )
        from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
        from registry_api.proto.modelregistry.v1 import registry_pb2_grpc

        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        call = stub.WatchModelEvents(pb.WatchModelEventsRequest(name="slow"))
        first = next(call)
        assert not first.HasField("event")
        big = "x" * 4000
        for i in range(600):
            client.set_registered_model_tag("slow", f"k{i % 50}", f"{big}{i}")
        # A live watcher alongside is not affected.
        healthy = Watcher(server.target, name="slow", after=first.cursor)
        last = ids_after(client, first.cursor)[-1]
        healthy.wait_for(lambda w: w.cursor >= last, timeout=30, what="the healthy watcher")
        assert len(healthy.events) == 600
        healthy.close()
        deadline = time.monotonic() + 30
        code = None
        try:
            for _ in call:
                if time.monotonic() > deadline:
                    break
        except grpc.RpcError as exc:
            code = exc.code()
            details = exc.details() or ""
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "REGISTRY_WATCH_BUFFER" in details
        channel.close()
        client.close()
