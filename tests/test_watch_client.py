"""RegistryClient.watch_model_events against real server processes on PostgreSQL.

Two replicas share the session's database: changes are made through A, the watch
reads from B, so every test also crosses replicas. B runs on a fixed port so
that it can be killed and started again where the watch's channel points: the
watch must resume from its cursor by itself and deliver every change exactly
once, in order, including those committed through A while B was down.

Both servers send a heartbeat every 0.5 s (REGISTRY_WATCH_HEARTBEAT) so that a
watch's idle detection can be tested in seconds.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.net import free_port
from support.proxy import TcpProxy
from support.server_process import server_process, wait_serving
from support.waiting import wait_until

from registry_client import (
    EventWatch,
    InvalidArgument,
    ModelEvent,
    NotFound,
    RegistryClient,
)

HEARTBEAT = {"REGISTRY_WATCH_HEARTBEAT": "0.5"}

# "From now" starts where the watched server's event feed stands, which may be a moment
# behind a commit made just before (the model's creation in the fixture, committed through
# A): the tests that count events watch only the kinds they write.
TAGS = ["model_tag_set"]


class RestartableServer:
    """`registry-server serve` on one fixed port, which a test may kill and start again."""

    def __init__(self, database_url: str, store: Path, log_path: Path) -> None:
        self.target = f"127.0.0.1:{free_port()}"
        self._database_url = database_url
        self._store = store
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update(HEARTBEAT)
        command = [
            *(sys.executable, "-m", "registry_server.cli", "--log-level", "WARNING", "serve"),
            *("--listen", self.target, "--database-url", self._database_url),
            *("--artifact-store", str(self._store), "--workers", "8"),
        ]
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        wait_serving(self.target, self.process, self._log_path)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def replica_a(pg_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("watch-a")
    with server_process(
        pg_database_url, str(folder / "artifacts"), folder / "server.log", workers=8, env=HEARTBEAT
    ) as server:
        yield server.target


@pytest.fixture(scope="module")
def replica_b(
    pg_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RestartableServer]:
    folder = tmp_path_factory.mktemp("watch-b")
    server = RestartableServer(pg_database_url, folder / "artifacts", folder / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def writer(replica_a: str) -> Iterator[RegistryClient]:
    with RegistryClient(replica_a, actor="watch-writer") as client:
        yield client


@pytest.fixture(scope="module")
def watcher(replica_b: RestartableServer) -> Iterator[RegistryClient]:
    with RegistryClient(replica_b.target, actor="watch-reader") as client:
        yield client


@pytest.fixture
def model(writer: RegistryClient, model_name: str) -> str:
    writer.create_registered_model(model_name)
    return model_name


def read(watch: EventWatch, count: int, timeout: float = 30.0) -> list[ModelEvent]:
    """The next `count` events. The watch is closed after `timeout` seconds, so that a
    lost event fails the test (with fewer events) instead of blocking it."""
    timer = threading.Timer(timeout, watch.close)
    timer.start()
    try:
        return list(itertools.islice(watch, count))
    finally:
        timer.cancel()


def ids(events: list[ModelEvent]) -> list[int]:
    return [e.event_id for e in events]


def assert_next_is_the_next_change(watch: EventWatch, writer: RegistryClient, name: str) -> None:
    """Nothing is left in the stream: the next event is a change made now."""
    writer.set_registered_model_tag(name, "sentinel", "1")
    (latest,) = writer.list_model_events(name, after_event_id=watch.cursor, kinds=TAGS).events
    assert ids(read(watch, 1)) == [latest.event_id]


# ------------------------------------------------------------------- delivery


def test_every_change_of_concurrent_writers_arrives_once_in_order(
    writer: RegistryClient, watcher: RegistryClient, model: str
) -> None:
    with watcher.watch_model_events(model, kinds=TAGS) as watch:
        start = watch.cursor
        assert start > 0  # "from now" was fixed by the server's first message

        def write(worker: int) -> None:
            for i in range(8):
                writer.set_registered_model_tag(model, f"w{worker}", str(i))

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expected = list(writer.iter_model_events(model, after_event_id=start, kinds=TAGS))
        assert len(expected) == 64
        got = read(watch, len(expected))
        assert ids(got) == ids(expected)
        assert got == expected  # the same ModelEvent values as the history
        assert watch.cursor >= expected[-1].event_id
        assert_next_is_the_next_change(watch, writer, model)


def test_a_saved_cursor_continues_in_another_watch_without_loss_or_repeats(
    writer: RegistryClient, watcher: RegistryClient, model: str
) -> None:
    with watcher.watch_model_events(model, kinds=TAGS) as first:
        for i in range(3):
            writer.set_registered_model_tag(model, "step", str(i))
        seen = read(first, 2)
        saved = first.cursor
    for i in range(3, 5):
        writer.set_registered_model_tag(model, "step", str(i))
    with watcher.watch_model_events(model, kinds=TAGS, after_event_id=saved) as second:
        rest = read(second, 3)
    steps = [e.after["value"] for e in seen + rest]
    assert steps == ["0", "1", "2", "3", "4"]


def test_close_from_another_thread_ends_a_blocked_iteration(
    watcher: RegistryClient, model: str
) -> None:
    watch = watcher.watch_model_events(model, kinds=TAGS)
    timer = threading.Timer(0.2, watch.close)
    timer.start()
    assert list(watch) == []
    assert watch.closed
    timer.join()


# ------------------------------------------------------------------- filters


def test_filters_by_name_kind_and_alias(
    writer: RegistryClient, watcher: RegistryClient, model: str, model_name: str
) -> None:
    other = model_name + "-other"
    writer.create_registered_model(other)
    first_id = writer.list_model_events(model).events[0].event_id
    for name in (model, other):
        writer.create_model_version(name, source="s3://bucket/1")
        writer.create_model_version(name, source="s3://bucket/2")
        writer.set_registered_model_alias(name, "champion", 1)
    writer.set_registered_model_alias(model, "canary", 2)
    writer.set_registered_model_alias(model, "champion", 2)
    writer.transition_model_version_stage(model, 2, "Staging")

    # one model, one kind
    with watcher.watch_model_events(model, kinds=["alias_set"], from_beginning=True) as watch:
        got = read(watch, 3)
        assert [(e.after["alias"], e.version) for e in got] == [
            ("champion", 1),
            ("canary", 2),
            ("champion", 2),
        ]
        assert {e.model_name for e in got} == {model}
        writer.set_registered_model_alias(other, "canary", 2)  # another model: not shown
        writer.set_registered_model_tag(model, "k", "v")  # another kind: not shown
        writer.set_registered_model_alias(model, "canary", 1)
        (moved,) = read(watch, 1)
        assert (moved.kind, moved.after["alias"], moved.version) == ("alias_set", "canary", 1)

    # one alias, any model, from a saved position
    with watcher.watch_model_events(alias="champion", after_event_id=first_id - 1) as watch:
        got = read(watch, 3)
        assert [(e.model_name, e.version) for e in got] == [(model, 1), (other, 1), (model, 2)]
        assert {e.kind for e in got} == {"alias_set"}

    # kinds of one model, as the history lists them
    kinds = ["version_created", "version_stage_changed"]
    expected = list(writer.iter_model_events(model, kinds=kinds))
    with watcher.watch_model_events(model, kinds=kinds, from_beginning=True) as watch:
        assert read(watch, len(expected)) == expected


# ------------------------------------------------------------------- errors


def test_bad_requests_raise_at_once(watcher: RegistryClient, model: str) -> None:
    with pytest.raises(InvalidArgument, match="kind") as caught:
        watcher.watch_model_events(model, kinds=["alias_moved"])
    assert "alias_moved" in caught.value.message
    with pytest.raises(NotFound):
        watcher.watch_model_events(model + "-never-was")
    with pytest.raises(ValueError, match="exclude"):
        watcher.watch_model_events(model, after_event_id=3, from_beginning=True)
    with pytest.raises(TypeError, match="kinds"):
        watcher.watch_model_events(model, kinds="alias_set")


# ------------------------------------------------------------------- resuming


@pytest.mark.slow
def test_the_watch_resumes_after_the_server_it_watches_is_restarted(
    writer: RegistryClient,
    watcher: RegistryClient,
    replica_b: RestartableServer,
    model: str,
) -> None:
    """B is killed (SIGKILL: connections just drop) and later stopped (SIGTERM: streams
    end with UNAVAILABLE), each time started again on its port, while A keeps taking
    changes: the watch on B delivers every change exactly once, in order."""
    got: list[ModelEvent] = []
    stop_writing = threading.Event()
    written = 0

    def write() -> None:
        nonlocal written
        while not stop_writing.is_set():
            writer.set_registered_model_tag(model, "n", str(written))
            written += 1
            stop_writing.wait(0.01)  # pacing, so that changes keep coming across restarts

    with watcher.watch_model_events(model, kinds=TAGS) as watch:
        start = watch.cursor
        reader = threading.Thread(target=lambda: got.extend(watch))
        reader.start()
        thread = threading.Thread(target=write)
        thread.start()
        try:
            for sig in (signal.SIGKILL, signal.SIGTERM):
                wait_until(lambda: len(got) >= 10, 30, what="events before the restart")
                replica_b.stop(sig)
                down_at = written
                wait_until(
                    lambda down_at=down_at: written >= down_at + 10, 30, what="changes while down"
                )
                got_before = len(got)
                replica_b.start()
                wait_until(lambda n=got_before: len(got) > n + 10, 30, what="events after restart")
        finally:
            stop_writing.set()
            thread.join()
        expected = list(writer.iter_model_events(model, after_event_id=start, kinds=TAGS))
        wait_until(lambda: len(got) >= len(expected), 30, what="every change")
        watch.close()
        reader.join(timeout=10)
    assert watch.reconnects >= 2
    assert ids(got) == ids(expected)
    assert len(set(ids(got))) == len(got) == written


@pytest.mark.slow
def test_a_silent_stream_is_dropped_and_resumed(
    writer: RegistryClient,
    replica_b: RestartableServer,
    model: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A network that stops forwarding without closing anything (the proxy's blackhole)
    shows no error; after idle_timeout without even a heartbeat the watch opens a new
    stream, and once the network heals it gets what was committed in between."""
    host, port = replica_b.target.rsplit(":", 1)
    got: list[ModelEvent] = []
    with (
        TcpProxy(host, int(port)) as proxy,
        RegistryClient(f"127.0.0.1:{proxy.port}") as client,
        client.watch_model_events(model, kinds=TAGS, idle_timeout=1.5) as watch,
        caplog.at_level(logging.WARNING, logger="registry_client"),
    ):
        reader = threading.Thread(target=lambda: got.extend(watch))
        reader.start()
        proxy.blackhole()
        writer.set_registered_model_tag(model, "during", "partition")
        wait_until(lambda: watch.reconnects >= 1, 20, what="a reconnect after silence")
        assert "no message from the server in 1.5 s" in caplog.text
        proxy.pass_through()
        wait_until(lambda: got, 30, what="the change made during the partition")
        watch.close()
        reader.join(timeout=10)
    assert [(e.kind, e.after.get("key")) for e in got] == [("model_tag_set", "during")]


@pytest.mark.slow
def test_a_watch_over_the_stream_limit_waits_for_a_free_slot(
    writer: RegistryClient,
    pg_database_url: str,
    model: str,
    tmp_path: Path,
) -> None:
    """RESOURCE_EXHAUSTED (here: the per-principal stream limit) is retried, not raised."""
    limited = {**HEARTBEAT, "REGISTRY_WATCH_STREAMS_PER_PRINCIPAL": "1"}
    with (
        server_process(pg_database_url, str(tmp_path / "artifacts"), workers=4, env=limited) as s,
        RegistryClient(s.target) as client,
    ):
        first = client.watch_model_events(model, kinds=TAGS)
        # No slot for it yet: refused with RESOURCE_EXHAUSTED, to be retried.
        second = client.watch_model_events(model, kinds=TAGS, after_event_id=first.cursor)
        writer.set_registered_model_tag(model, "k", "v")
        first.close()
        (event,) = read(second, 1)
        second.close()
    assert (event.kind, event.after["key"]) == ("model_tag_set", "k")
    assert second.reconnects >= 1
