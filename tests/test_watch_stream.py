"""WatchModelEvents against a real server: the cursor's guarantee (no event
skipped, none repeated, in id order) with transactions committing out of id
order, concurrent writers, backlog and resume, filters, limits, access and
shutdown, on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg2
import pytest
from sqlalchemy.engine import make_url
from support.auth import AuthServer, auth_server, start_auth_server
from support.postgres import temporary_database
from support.watching import Watcher

from registry_client import RegistryClient
from registry_server import migrate
from registry_server.api import auth as auth_module
from registry_server.config import ServerConfig
from registry_server.events.settings import WatchSettings
from registry_server.server import RunningServer, start
from registry_server.store.database import make_engine

FAST = WatchSettings(per_principal=3, max_streams=50, heartbeat=0.2, buffer=1000)


@pytest.fixture
def fresh_pg(pg_server_url: str) -> Iterator[str]:
    with temporary_database(pg_server_url, prefix="registry_watch") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def serve(url: str, tmp: Path, settings: WatchSettings = FAST) -> RunningServer:
    return start(
        ServerConfig(
            database_url=url,
            artifact_store=str(tmp / "artifacts"),
            listen="127.0.0.1:0",
            workers=16,
            watch=settings,
        )
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    if request.param == "postgresql":
        url = request.getfixturevalue("fresh_pg")
    else:
        url = f"sqlite:///{tmp_path / 'watch.db'}"
    running = serve(url, tmp_path)
    yield running
    running.stop(grace=1)


@pytest.fixture
def pg_server(fresh_pg: str, tmp_path: Path) -> Iterator[tuple[RunningServer, str]]:
    running = serve(fresh_pg, tmp_path)
    yield running, fresh_pg
    running.stop(grace=1)


def target_of(running: RunningServer) -> str:
    return f"127.0.0.1:{running.port}"


def all_event_ids(client: RegistryClient, after: int = 0) -> list[int]:
    return [e.event_id for e in client.iter_model_events(after_event_id=after, page_size=1000)]


def test_events_are_sent_in_id_order_exactly_once_under_concurrent_writers(
    server: RunningServer,
) -> None:
    target = target_of(server)
    client = RegistryClient(target)
    names = [f"conc-{i}" for i in range(4)]
    for name in names:
        client.create_registered_model(name)
    watcher = Watcher(target)
    watcher.wait_started()
    start = watcher.cursor
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with RegistryClient(target) as mine:
                for i in range(25):
                    mine.set_registered_model_tag(names[(worker + i) % 4], f"w{worker}", str(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    committed = all_event_ids(client, after=start)
    assert len(committed) == 200
    watcher.wait_for(lambda w: w.cursor >= committed[-1], what="every committed event")
    assert watcher.event_ids == committed
    cursors = [r.cursor for r in watcher.received]
    assert cursors == sorted(cursors)
    watcher.close()
    client.close()


def test_a_smaller_id_committing_late_is_sent_before_the_larger_ones(
    pg_server: tuple[RunningServer, str],
) -> None:
    """The hazard of sequences: id N drawn by a transaction still open while
    N+1.. commit. Nothing after N may be sent until N's transaction ends."""
    running, url = pg_server
    target = target_of(running)
    client = RegistryClient(target)
    model = client.create_registered_model("late")
    del model
    watcher = Watcher(target, name="late")
    watcher.wait_started()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    raw = psycopg2.connect(dsn)
    try:
        with raw.cursor() as cur:
            cur.execute("SELECT id FROM registered_models WHERE name = 'late'")
            (model_id,) = cur.fetchone()
            cur.execute(
                "INSERT INTO model_events (model_id, model_name, kind, actor, event_time,"
                " before, after) VALUES (%s, 'late', 'model_tag_set', 'slow-writer', 1,"
                " '{}', '{}') RETURNING id",
                (model_id,),
            )
            (held,) = cur.fetchone()
        for i in range(3):
            client.set_registered_model_tag("late", "k", str(i))
        later = all_event_ids(client, after=held)
        assert len(later) == 3 and later[0] > held
        # Heartbeats keep coming while N is open, and the cursor stays below it.
        seen = len(watcher.received)
        watcher.wait_for(lambda w: len(w.received) >= seen + 3, what="heartbeats")
        assert watcher.events == []
        assert watcher.cursor < held
        raw.commit()
        watcher.wait_for(lambda w: len(w.events) >= 4, what="the held event and the later ones")
        assert watcher.event_ids == [held, *later]
    finally:
        raw.close()
        watcher.close()
        client.close()


def test_an_aborted_transaction_does_not_hold_the_stream(
    pg_server: tuple[RunningServer, str],
) -> None:
    running, url = pg_server
    target = target_of(running)
    client = RegistryClient(target)
    client.create_registered_model("aborted")
    watcher = Watcher(target, name="aborted")
    watcher.wait_started()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    raw = psycopg2.connect(dsn)
    with raw.cursor() as cur:
        cur.execute(
            "INSERT INTO model_events (model_id, model_name, kind, actor, event_time,"
            " before, after) SELECT id, name, 'model_tag_set', 'x', 1, '{}', '{}'"
            " FROM registered_models WHERE name = 'aborted' RETURNING id"
        )
        (dropped,) = cur.fetchone()
    client.set_registered_model_tag("aborted", "k", "v")
    raw.rollback()
    raw.close()
    after = all_event_ids(client, after=dropped)
    watcher.wait_for(lambda w: w.event_ids == after, what="the event after the rolled-back one")
    assert dropped not in watcher.event_ids
    watcher.close()
    client.close()


def test_backlog_then_live_and_resume_from_the_cursor(server: RunningServer) -> None:
    target = target_of(server)
    client = RegistryClient(target)
    client.create_registered_model("resume")
    for i in range(5):
        client.set_registered_model_tag("resume", "k", str(i))
    history = all_event_ids(client)
    first = Watcher(target, name="resume", from_beginning=True)
    first.wait_for(lambda w: w.event_ids == history, what="the backlog")
    client.set_registered_model_tag("resume", "k", "live")
    live = all_event_ids(client, after=history[-1])
    first.wait_for(lambda w: w.event_ids == history + live, what="the live event")
    cursor = first.cursor
    first.close()
    # Changes while nobody watches, then resume from the cursor: those and no repeats.
    client.set_registered_model_tag("resume", "k", "gone-1")
    client.delete_registered_model_tag("resume", "k")
    missed = all_event_ids(client, after=cursor)
    second = Watcher(target, name="resume", after=cursor)
    second.wait_for(lambda w: w.event_ids == missed, what="the missed events")
    assert second.received[0].cursor == cursor
    second.close()
    # 0 without from_beginning: from now on only.
    third = Watcher(target, name="resume")
    third.wait_started()
    assert third.events == [] and third.cursor >= missed[-1]
    third.close()
    client.close()


def test_filters_by_name_kind_and_alias(server: RunningServer) -> None:
    target = target_of(server)
    client = RegistryClient(target)
    for name in ("filt-a", "filt-b"):
        client.create_registered_model(name)
        client.create_model_version(name, source="s3://bucket/m")
    by_name = Watcher(target, name="filt-a")
    by_kind = Watcher(target, kinds=["alias_set"])
    by_alias = Watcher(target, alias="champion")
    for w in (by_name, by_kind, by_alias):
        w.wait_started()
    client.set_registered_model_tag("filt-b", "k", "v")
    client.set_registered_model_alias("filt-b", "champion", 1)
    client.set_registered_model_alias("filt-a", "challenger", 1)
    client.set_registered_model_tag("filt-a", "k", "v")
    by_name.wait_for(lambda w: len(w.events) == 2, what="filt-a's two events")
    assert [e.kind for e in by_name.events] == ["alias_set", "model_tag_set"]
    by_kind.wait_for(lambda w: len(w.events) == 2, what="both alias moves")
    assert {e.model_name for e in by_kind.events} == {"filt-a", "filt-b"}
    by_alias.wait_for(lambda w: len(w.events) == 1, what="the champion move")
    assert by_alias.events[0].model_name == "filt-b"
    # Nothing else arrives: later heartbeats carry cursors past every event.
    last = all_event_ids(client)[-1]
    for w in (by_name, by_kind, by_alias):
        w.wait_for(lambda w: w.cursor >= last, what="a heartbeat past the last event")
        w.close()
    assert len(by_name.events) == 2 and len(by_kind.events) == 2 and len(by_alias.events) == 1
    client.close()


def test_bad_requests_and_the_stream_limit(server: RunningServer) -> None:
    target = target_of(server)
    with RegistryClient(target) as client:
        client.create_registered_model("limits")
    cases = [
        ({"kinds": ["nonsense"]}, grpc.StatusCode.INVALID_ARGUMENT, "kinds[0]"),
        ({"after": -1}, grpc.StatusCode.INVALID_ARGUMENT, "after_event_id"),
        ({"name": "no-such-model"}, grpc.StatusCode.NOT_FOUND, "no-such-model"),
        ({"alias": "v1"}, grpc.StatusCode.INVALID_ARGUMENT, "alias"),
    ]
    for request, code, named in cases:
        refused = Watcher(target, **request)  # type: ignore[arg-type]
        assert refused.wait_ended() == code, request
        assert named in refused.details
        refused.close()
    # Without authentication every caller is one principal: 3 streams, the 4th refused.
    open_ = [Watcher(target, name="limits") for _ in range(FAST.per_principal)]
    for w in open_:
        w.wait_started()
    extra = Watcher(target, name="limits")
    assert extra.wait_ended() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "REGISTRY_WATCH_STREAMS_PER_PRINCIPAL" in extra.details
    extra.close()
    open_[0].close()
    # A closed stream gives its slot back.
    again = Watcher(target, name="limits")

    def started_or_refused(w: Watcher) -> bool:
        return bool(w.received) or w.ended is not None

    again.wait_for(started_or_refused)
    assert again.ended is None
    for w in [again, *open_[1:]]:
        w.close()


def test_shutdown_ends_streams_with_unavailable(fresh_pg: str, tmp_path: Path) -> None:
    running = serve(fresh_pg, tmp_path)
    watcher = Watcher(target_of(running))
    watcher.wait_started()
    running.stop(grace=5)
    assert watcher.wait_ended() == grpc.StatusCode.UNAVAILABLE
    assert "resume after event" in watcher.details
    watcher.close()


def test_callers_see_only_what_they_may_read(pg_database_url: str, tmp_path: Path) -> None:
    with auth_server(pg_database_url, tmp_path, "postgresql") as server:
        admin = server.admin
        suffix = tmp_path.name[-8:]
        mine, hidden = f"seen-{suffix}", f"hidden-{suffix}"
        admin.create_registered_model(mine)
        admin.create_registered_model(hidden)
        principal, _ = server.principal_client("none", "watcher")
        admin.set_model_grant(mine, principal, "reader")
        secret = server.token(principal, "none")
        _, reader_secret = server.token_with_id(f"reader-{suffix}", "reader")
        everything = Watcher(server.target, secret=secret)
        reader = Watcher(server.target, secret=reader_secret, name=mine)
        for w in (everything, reader):
            w.wait_started()
        refused = Watcher(server.target, secret=secret, name=hidden)
        assert refused.wait_ended() == grpc.StatusCode.NOT_FOUND
        assert hidden in refused.details
        refused.close()
        admin.set_registered_model_tag(hidden, "k", "secret")
        admin.set_registered_model_tag(mine, "k", "visible")
        server.token("someone-else", "reader")  # a token_created event: admins only
        admin.set_model_grant(mine, "another", "reader")  # grant_set: admins of the model only
        admin.set_registered_model_tag(mine, "k", "after")
        last = server.last_event_id()
        everything.wait_for(lambda w: w.cursor >= last, what="the cursor past the last event")
        assert [e.model_name for e in everything.events] == [mine, mine]
        assert {e.kind for e in everything.events} == {"model_tag_set"}
        reader.wait_for(lambda w: w.cursor >= last, what="the reader's cursor")
        assert [e.kind for e in reader.events] == ["model_tag_set", "model_tag_set"]
        everything.close()
        reader.close()


def test_a_revoked_token_ends_its_watch_stream(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_module, "RECHECK_SECONDS", 0.0)
    with auth_server(pg_database_url, tmp_path, "postgresql") as server:
        admin = server.admin
        token_id, secret = server.token_with_id(f"revoked-{tmp_path.name[-8:]}", "reader")
        watcher = Watcher(server.target, secret=secret)
        watcher.wait_started()
        admin.revoke_access_token(token_id)
        # The next message (the revocation's own event is hidden from a
        # reader; a heartbeat or any event) finds the token revoked.
        admin.create_registered_model(f"after-revoke-{tmp_path.name[-8:]}")
        assert watcher.wait_ended() == grpc.StatusCode.UNAUTHENTICATED
        watcher.close()


def test_heartbeats_keep_coming_while_every_event_is_hidden(
    pg_database_url: str, tmp_path: Path
) -> None:
    """A caller watching everything on a busy registry where it may read
    nothing still gets a message every heartbeat interval, its cursor moving
    past the events it may not see (else its client would call the stream
    dead and replay from a cursor that never moves)."""
    running = start_auth_server(pg_database_url, tmp_path / "artifacts", watch=FAST)
    server = AuthServer(running, "postgresql", tmp_path)
    try:
        hidden = f"busy-{tmp_path.name[-8:]}"
        server.admin.create_registered_model(hidden)
        watcher = Watcher(server.target, secret=server.token(f"nobody-{hidden}", "none"))
        watcher.wait_started()
        start = watcher.cursor
        stop = threading.Event()

        def churn() -> None:
            i = 0
            while not stop.is_set():
                server.admin.set_registered_model_tag(hidden, "k", str(i))
                i += 1

        thread = threading.Thread(target=churn)
        thread.start()
        try:
            watcher.wait_for(
                lambda w: len({r.cursor for r in w.received if r.cursor > start}) >= 3,
                what="heartbeats with moving cursors while hidden events stream by",
            )
        finally:
            stop.set()
            thread.join()
        assert watcher.events == []
        watcher.close()
    finally:
        server.close()
