"""Webhooks end to end: a real HTTP receiver (tests/support/webhook_receiver.py)
that verifies every signature, servers in this process and as separate
processes (replicas) on one PostgreSQL database, and the embedded SQLite store.

The PostgreSQL tests use a database of their own: every server on a database
runs a sender, and the session's shared servers (which refuse loopback URLs)
would otherwise claim these deliveries too.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.postgres import temporary_database
from support.server_process import server_process
from support.waiting import wait_until
from support.webhook_receiver import Receiver, receiver

from registry_client import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RegistryClient,
)
from registry_server import migrate
from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start
from registry_server.store import events as event_store
from registry_server.store.database import make_engine

SECRET = "s3cret-of-the-receiver-0123456789"
ALLOW = {"REGISTRY_ALLOW_INSECURE_WEBHOOKS": "true", "REGISTRY_ALLOW_PRIVATE_WEBHOOKS": "true"}


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def webhook_pg_url(pg_server_url: str) -> Iterator[str]:
    with temporary_database(pg_server_url, prefix="registry_webhooks") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def _start(url: str, tmp: Path, **settings: object) -> RunningServer:
    chosen: dict[str, object] = {
        "allow_insecure_webhooks": True,
        "allow_private_webhooks": True,
        "webhook_timeout": 2.0,
        **settings,
    }
    config = ServerConfig(
        database_url=url,
        artifact_store=str(tmp / "artifacts"),
        listen="127.0.0.1:0",
        **chosen,  # type: ignore[arg-type]
    )
    return start(config)


@pytest.fixture(scope="module")
def pg_webhooks(
    webhook_pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryClient]:
    running = _start(webhook_pg_url, tmp_path_factory.mktemp("webhooks"))
    client = RegistryClient(f"127.0.0.1:{running.port}")
    try:
        yield client
    finally:
        client.close()
        running.stop(grace=0)


@pytest.fixture
def admin(pg_webhooks: RegistryClient) -> Iterator[RegistryClient]:
    """The PostgreSQL server's client; webhooks made by the test are deleted after it."""
    yield pg_webhooks
    for webhook in pg_webhooks.list_webhooks():
        pg_webhooks.delete_webhook(webhook.webhook_id)


def _received_kinds(hook: Receiver, delivered: int) -> list[str]:
    found = wait_until(
        lambda: len(hook.delivered()) >= delivered and hook.delivered(),
        what=f"{delivered} deliveries",
    )
    return [r.kind for r in found]


# --------------------------------------------------------------------------- delivery


def test_events_arrive_signed_with_the_event_as_json(admin: RegistryClient) -> None:
    name = _name("signed")
    with receiver(SECRET) as hook:
        created = admin.create_webhook(hook.url, models=[name], secret=SECRET)
        assert created.secret == SECRET
        admin.create_registered_model(name)
        admin.create_model_version(name, source="s3://bucket/1")
        admin.set_registered_model_alias(name, "champion", 1)
        kinds = _received_kinds(hook, 3)
    assert sorted(kinds) == ["alias_set", "model_created", "version_created"]
    history = {e.kind: e for e in admin.list_model_events(name).events}
    for got in hook.delivered():
        assert got.signed
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["X-Registry-Event"] == got.kind
        assert int(got.headers["X-Registry-Delivery"]) == got.body["delivery_id"]
        event = history[got.kind]
        assert got.body["event_id"] == event.event_id
        assert got.body["timestamp"] == event.timestamp
        assert got.body["actor"] == event.actor
        assert got.body["model_name"] == name
        assert got.body["webhook_id"] == created.webhook.webhook_id
    alias = next(r for r in hook.delivered() if r.kind == "alias_set")
    assert alias.body["version"] == 1
    assert alias.body["after"]["alias"] == "champion"
    deliveries = admin.list_webhook_deliveries(created.webhook.webhook_id)
    assert {d.status for d in deliveries} == {"delivered"}
    assert {d.last_response_code for d in deliveries} == {200}


@pytest.mark.slow
def test_a_refused_first_attempt_is_retried_with_the_same_delivery_id(
    admin: RegistryClient,
) -> None:
    name = _name("retried")
    with receiver(SECRET, refuse_first=True) as hook:
        webhook = admin.create_webhook(hook.url, models=[name], secret=SECRET).webhook
        admin.create_registered_model(name)
        wait_until(lambda: hook.delivered(), timeout=15, what="the retry")
    first, second = hook.all()
    assert (first.answered, second.answered) == (500, 200)
    assert first.delivery_id == second.delivery_id
    assert first.body == second.body
    assert first.signed and second.signed
    (delivery,) = admin.list_webhook_deliveries(webhook.webhook_id)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (
        "delivered",
        2,
        200,
    )
    assert delivery.next_attempt_timestamp is None


def test_filters_by_kind_and_model_and_a_disabled_webhook_gets_nothing(
    admin: RegistryClient,
) -> None:
    one, two = _name("one"), _name("two")
    url = "http://127.0.0.1:9/nowhere"  # the outbox is what this test reads
    aliases = admin.create_webhook(url, events=["alias_set"], models=[one, two]).webhook
    of_one = admin.create_webhook(url, models=[one]).webhook
    paused = admin.create_webhook(url, models=[one, two]).webhook
    admin.update_webhook(paused.webhook_id, enabled=False)
    for name in (one, two):
        admin.create_registered_model(name)
        admin.create_model_version(name, source="s3://bucket/1")
        admin.set_registered_model_alias(name, "champion", 1)

    # Queued in the events' own transactions: all there once the calls returned.
    def queued(webhook_id: int) -> list[tuple[str, int]]:
        return sorted((d.kind, d.event_id or 0) for d in admin.list_webhook_deliveries(webhook_id))

    history = {n: admin.list_model_events(n).events for n in (one, two)}
    assert queued(aliases.webhook_id) == sorted(
        (e.kind, e.event_id) for n in (one, two) for e in history[n] if e.kind == "alias_set"
    )
    assert queued(of_one.webhook_id) == sorted((e.kind, e.event_id) for e in history[one])
    assert queued(paused.webhook_id) == []
    # Filters replaced: the paused one resumes for model_updated only.
    admin.update_webhook(paused.webhook_id, enabled=True, events=["model_updated"])
    admin.update_registered_model(two, description="changed")
    admin.set_registered_model_alias(two, "challenger", 1)
    assert [d.kind for d in admin.list_webhook_deliveries(paused.webhook_id)] == ["model_updated"]


def test_a_ping_is_queued_sent_and_listed(admin: RegistryClient) -> None:
    with receiver(SECRET) as hook:
        webhook = admin.create_webhook(hook.url, secret=SECRET, models=[_name("ping")]).webhook
        ping = admin.test_webhook(webhook.webhook_id)
        assert (ping.kind, ping.event_id, ping.status) == ("ping", None, "pending")
        (got,) = wait_until(lambda: hook.delivered(), what="the ping")
    assert got.signed and got.kind == "ping" and got.delivery_id == ping.delivery_id
    assert got.body["event_id"] == 0 and got.body["kind"] == "ping"
    wait_until(
        lambda: admin.list_webhook_deliveries(webhook.webhook_id, status="delivered"),
        what="the ping recorded as delivered",
    )
    admin.update_webhook(webhook.webhook_id, enabled=False)
    with pytest.raises(FailedPrecondition, match="disabled"):
        admin.test_webhook(webhook.webhook_id)
    admin.delete_webhook(webhook.webhook_id)
    for call in (
        lambda: admin.test_webhook(webhook.webhook_id),
        lambda: admin.list_webhook_deliveries(webhook.webhook_id),
        lambda: admin.update_webhook(webhook.webhook_id, enabled=True),
        lambda: admin.delete_webhook(webhook.webhook_id),
    ):
        with pytest.raises(NotFound, match="webhook_id"):
            call()


def test_deliveries_page_newest_first(admin: RegistryClient) -> None:
    webhook = admin.create_webhook("http://127.0.0.1:9/x", models=[_name("paged")]).webhook
    webhook_id = webhook.webhook_id
    admin.update_webhook(webhook_id, url="http://127.0.0.1:9/y")
    pings = [admin.test_webhook(webhook_id).delivery_id for _ in range(5)]
    assert [d.delivery_id for d in admin.list_webhook_deliveries(webhook_id)] == pings[::-1]
    assert [d.delivery_id for d in admin.list_webhook_deliveries(webhook_id, limit=2)] == [
        pings[4],
        pings[3],
    ]
    from registry_api.proto.modelregistry.v1 import registry_pb2 as pb

    first = admin._call(
        "ListWebhookDeliveries", pb.ListWebhookDeliveriesRequest(webhook_id=webhook_id, page_size=3)
    )
    rest = admin._call(
        "ListWebhookDeliveries",
        pb.ListWebhookDeliveriesRequest(
            webhook_id=webhook_id, page_size=3, page_token=first.next_page_token
        ),
    )
    assert [d.delivery_id for d in [*first.deliveries, *rest.deliveries]] == pings[::-1]
    assert rest.next_page_token == ""
    with pytest.raises(InvalidArgument, match="page_token"):
        admin._call(
            "ListWebhookDeliveries",
            pb.ListWebhookDeliveriesRequest(
                webhook_id=webhook_id, status="failed", page_token=first.next_page_token
            ),
        )
    with pytest.raises(InvalidArgument, match="status"):
        admin._call(
            "ListWebhookDeliveries",
            pb.ListWebhookDeliveriesRequest(webhook_id=webhook_id, status="lost"),
        )


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("field", "arguments"),
    [
        ("url", {"url": "ftp://127.0.0.1/hook"}),
        ("url", {"url": ""}),
        ("url", {"url": "http://user:pw@127.0.0.1/hook"}),
        ("url", {"url": "https://127.0.0.1/" + "x" * 2048}),
        ("events", {"events": ["model_exploded"]}),
        ("models", {"models": ["a/b"]}),
        ("secret", {"secret": "too-short"}),
        ("description", {"description": "x" * 1025}),
    ],
)
def test_invalid_webhooks_are_refused_naming_the_field(
    admin: RegistryClient, field: str, arguments: dict[str, object]
) -> None:
    before = admin.list_webhooks()
    call = {"url": "http://127.0.0.1:9/hook", **arguments}
    url = call.pop("url")
    with pytest.raises(InvalidArgument) as refused:
        admin.create_webhook(url, **call)  # type: ignore[arg-type]
    assert refused.value.message.startswith(field), refused.value.message
    assert admin.list_webhooks() == before
    # The same rules when changing one; nothing changes either.
    webhook = admin.create_webhook("http://127.0.0.1:9/hook").webhook
    change = {"events": arguments.get("events"), "models": arguments.get("models")}
    if field in ("url", "description"):
        change[field] = arguments[field]
    if field != "secret":
        with pytest.raises(InvalidArgument) as refused:
            admin.update_webhook(webhook.webhook_id, **change)  # type: ignore[arg-type]
        assert refused.value.message.startswith(field), refused.value.message
    (unchanged,) = [w for w in admin.list_webhooks() if w.webhook_id == webhook.webhook_id]
    assert unchanged == webhook


def test_secrets_are_never_returned_after_creation(admin: RegistryClient) -> None:
    created = admin.create_webhook("http://127.0.0.1:9/hook", models=[_name("secret")])
    assert len(created.secret) >= 32
    (listed,) = [w for w in admin.list_webhooks() if w.webhook_id == created.webhook.webhook_id]
    assert listed == created.webhook
    assert created.secret not in str(listed.raw)
    assert "secret" not in {f.name for f in listed.raw.DESCRIPTOR.fields}  # type: ignore[union-attr]
    assert created.secret not in repr(created)


def test_private_and_insecure_urls_are_refused_without_the_flags(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    running = _start(url, tmp_path, allow_insecure_webhooks=False, allow_private_webhooks=False)
    try:
        with RegistryClient(f"127.0.0.1:{running.port}") as client:
            with pytest.raises(InvalidArgument, match="allow-insecure-webhooks"):
                client.create_webhook("http://example.com/hook")
            for address, kind in (
                ("127.0.0.1", "loopback"),
                ("localhost", "loopback"),
                ("169.254.169.254", "link-local"),
                ("10.1.2.3", "private"),
                ("[::1]", "loopback"),
                ("[::ffff:127.0.0.1]", "loopback"),
                ("0.0.0.0", "unspecified"),
            ):
                with pytest.raises(InvalidArgument, match=f"url: .*an? {kind} address") as refused:
                    client.create_webhook(f"https://{address}/hook")
                assert "allow-private-webhooks" in refused.value.message
            # A public address is fine (nothing is sent: no event matches).
            client.create_webhook("https://93.184.216.34/hook", models=[_name("nothing")])
            assert len(client.list_webhooks()) == 1
    finally:
        running.stop(grace=0)


def test_the_address_is_checked_again_at_each_delivery(tmp_path: Path) -> None:
    """Created while loopback was allowed; the server then restarted without
    --allow-private-webhooks: the attempt is refused, nothing is sent."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    name = _name("rechecked")
    with receiver(SECRET) as hook:
        running = _start(url, tmp_path)
        with RegistryClient(f"127.0.0.1:{running.port}") as client:
            webhook = client.create_webhook(hook.url, models=[name], secret=SECRET).webhook
        running.stop(grace=0)
        running = _start(url, tmp_path, allow_private_webhooks=False)
        try:
            with RegistryClient(f"127.0.0.1:{running.port}") as client:
                client.create_registered_model(name)
                (delivery,) = wait_until(
                    lambda: [
                        d for d in client.list_webhook_deliveries(webhook.webhook_id) if d.attempts
                    ],
                    what="an attempt",
                )
        finally:
            running.stop(grace=0)
        assert hook.all() == []
    assert delivery.status == "pending" and delivery.last_response_code is None
    assert "127.0.0.1, a loopback address" in delivery.last_error
    assert delivery.next_attempt_timestamp is not None


# --------------------------------------------------------------------------- the outbox


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_rolled_back_change_queues_nothing(
    backend: str, webhook_pg_url: str, tmp_path: Path, admin: RegistryClient
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
        running = _start(url, tmp_path)
        client = RegistryClient(f"127.0.0.1:{running.port}")
    else:
        url, running, client = webhook_pg_url, None, admin
    try:
        client.create_webhook("http://127.0.0.1:9/hook")
        engine = make_engine(url, pool_size=1)
        count = sa.text("SELECT count(*) FROM webhook_deliveries")
        try:
            with engine.connect() as conn:
                before = conn.execute(count).scalar_one()
            with pytest.raises(RuntimeError, match="rolled back"), engine.begin() as conn:
                row = event_store.row(
                    model_id=1,
                    model_name="m",
                    kind="model_updated",
                    actor="a",
                    now=1,  # type: ignore[arg-type]
                )
                event_store.insert(conn, [row])
                # Queued with the event, in its transaction...
                assert conn.execute(count).scalar_one() == before + 1
                raise RuntimeError("rolled back")
            # ... and gone with it.
            with engine.connect() as conn:
                assert conn.execute(count).scalar_one() == before
        finally:
            engine.dispose()
    finally:
        if running is not None:
            client.close()
            running.stop(grace=0)


def test_the_embedded_sqlite_store_delivers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    running = _start(url, tmp_path)
    name = _name("embedded")
    try:
        with receiver(SECRET) as hook, RegistryClient(f"127.0.0.1:{running.port}") as client:
            client.create_webhook(hook.url, secret=SECRET, events=["version_created"])
            client.create_registered_model(name)
            client.create_model_version(name, source="s3://bucket/1")
            (got,) = wait_until(lambda: hook.delivered(), what="the delivery")
        assert got.signed and got.kind == "version_created" and got.body["version"] == 1
    finally:
        running.stop(grace=0)


def test_secrets_are_stored_encrypted_with_a_key(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    running = _start(url, tmp_path, webhook_key=Fernet.generate_key().decode())
    try:
        with receiver(SECRET) as hook, RegistryClient(f"127.0.0.1:{running.port}") as client:
            webhook = client.create_webhook(hook.url, secret=SECRET).webhook
            client.test_webhook(webhook.webhook_id)
            (got,) = wait_until(lambda: hook.delivered(), what="the ping")
        assert got.signed  # signed with the secret it decrypted
        with running.database.read() as conn:
            stored = conn.execute(sa.text("SELECT secret FROM webhooks")).scalar_one()
        assert stored.startswith("fernet:") and SECRET not in stored
    finally:
        running.stop(grace=0)


# --------------------------------------------------------------------------- replicas


@pytest.fixture
def replica_database(pg_server_url: str) -> Iterator[str]:
    with temporary_database(pg_server_url, prefix="registry_replicas") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.mark.slow
def test_two_replicas_deliver_each_event_once(replica_database: str, tmp_path: Path) -> None:
    env = {**ALLOW, "REGISTRY_WEBHOOK_TIMEOUT": "5"}
    store = str(tmp_path / "artifacts")
    names = [_name(f"replicas-{i}") for i in range(8)]
    with (
        receiver(SECRET) as hook,
        server_process(replica_database, store, workers=8, env=env) as a,
        server_process(replica_database, store, workers=8, env=env) as b,
        RegistryClient(a.target) as on_a,
        RegistryClient(b.target) as on_b,
    ):
        on_a.create_webhook(hook.url, secret=SECRET, models=names)
        errors: list[BaseException] = []

        def write(name: str, client: RegistryClient) -> None:
            try:
                client.create_registered_model(name)
                for version in range(1, 4):
                    client.create_model_version(name, source=f"s3://bucket/{version}")
                    client.set_registered_model_alias(name, "champion", version)
            except BaseException as exc:  # reported below
                errors.append(exc)

        writers = [
            threading.Thread(target=write, args=(n, on_a if i % 2 else on_b))
            for i, n in enumerate(names)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert errors == []
        events = {e.event_id for n in names for e in on_a.list_model_events(n).events}
        assert len(events) == 8 * 7
        wait_until(lambda: len(hook.delivered()) >= len(events), timeout=30, what="every event")
    received = hook.all()
    assert all(r.signed for r in received)
    # Nothing crashed: every delivery was sent exactly once, and every event was sent.
    assert Counter(r.delivery_id for r in received).most_common(1)[0][1] == 1
    assert {r.body["event_id"] for r in received} == events


@pytest.mark.slow
def test_a_replica_killed_mid_delivery_loses_nothing(replica_database: str, tmp_path: Path) -> None:
    """A sends, the receiver stalls, A is killed; B sends the same delivery
    once A's claim lapses ((4 + 1) x 1 s timeout + 2 s)."""
    env = {**ALLOW, "REGISTRY_WEBHOOK_TIMEOUT": "1"}
    store = str(tmp_path / "artifacts")
    name = _name("killed")
    with receiver(SECRET, hang_first=True) as hook:
        with (
            server_process(replica_database, store, env=env) as a,
            RegistryClient(a.target) as on_a,
        ):
            webhook = on_a.create_webhook(hook.url, secret=SECRET, models=[name]).webhook
            on_a.create_registered_model(name)
            assert hook.hanging.wait(10), "the delivery never arrived"
            a.process.kill()
            a.process.wait()
        with (
            server_process(replica_database, store, env=env) as b,
            RegistryClient(b.target) as on_b,
        ):
            (again,) = wait_until(lambda: hook.delivered(), timeout=20, what="the resend")
            (delivery,) = wait_until(
                lambda: on_b.list_webhook_deliveries(webhook.webhook_id, status="delivered"),
                what="the delivery recorded",
            )
    first = hook.all()[0]
    assert first.delivery_id == again.delivery_id == delivery.delivery_id
    assert first.body == again.body and again.signed
    # A's attempt was never recorded (it died first): B's is the first that counts.
    assert delivery.attempts == 1


def test_https_goes_to_the_checked_address_and_verifies_the_host_name() -> None:
    """The sender connects to the address it checked, not to a fresh lookup of
    the name, yet TLS still verifies the certificate against the URL's host."""
    import ssl

    import trustme

    from registry_server.domain.webhooks import Target
    from registry_server.events.webhook_sender import post

    ca = trustme.CA()
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.registry.test").configure_cert(server_side)
    client_side = ssl.create_default_context()
    ca.configure_trust(client_side)
    with receiver(SECRET, tls=server_side) as hook:
        port = hook.server.server_port
        headers = {"Content-Type": "application/json", "X-Registry-Signature": "t=1,v1=0"}
        target = Target("https", "hooks.registry.test", port, "/in")
        # The name resolves nowhere: only the pinned address is used.
        assert post(target, "127.0.0.1", b"{}", headers, 5.0, client_side) == 401
        (got,) = hook.all()
        assert got.headers["Host"] == f"hooks.registry.test:{port}"
        wrong = Target("https", "elsewhere.registry.test", port, "/in")
        with pytest.raises(ssl.SSLCertVerificationError):
            post(wrong, "127.0.0.1", b"{}", headers, 5.0, client_side)


def test_a_stalled_receiver_does_not_hold_up_other_webhooks(tmp_path: Path) -> None:
    """Ten deliveries to a receiver that never answers (within a 60 s timeout)
    take two of the sender's eight workers; another webhook's ten arrive meanwhile."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    running = _start(url, tmp_path, webhook_timeout=60.0)
    name = _name("stalled")
    try:
        with (
            receiver(SECRET, hang_all=True) as stalled,
            receiver(SECRET) as healthy,
            RegistryClient(f"127.0.0.1:{running.port}") as client,
        ):
            client.create_webhook(stalled.url, secret=SECRET, models=[name])
            client.create_webhook(healthy.url, secret=SECRET, models=[name])
            client.create_registered_model(name)
            for n in range(9):
                client.set_registered_model_tag(name, "n", str(n))
            wait_until(lambda: len(healthy.delivered()) == 10, what="the healthy webhook's ten")
            # At most two sends per webhook at a time: the others wait for them.
            wait_until(lambda: len(stalled.all()) == 2, what="two stalled sends")
            assert len(stalled.all()) == 2
            stalled.release()
    finally:
        running.stop(grace=0)


# --------------------------------------------------------------------------- audit


def test_webhook_administration_is_in_the_history_for_global_admins_only(
    webhook_pg_url: str, tmp_path: Path
) -> None:
    from support.auth import AuthServer, start_auth_server

    # Auth test servers allow http and loopback webhooks already.
    running = start_auth_server(webhook_pg_url, tmp_path / "artifacts")
    server = AuthServer(running, "postgresql", tmp_path)
    try:
        admin = server.admin
        start = server.last_event_id()
        made = admin.create_webhook(
            "http://127.0.0.1:9/hook?token=abc", events=["alias_set"]
        ).webhook
        admin.update_webhook(made.webhook_id, enabled=False)
        admin.update_webhook(made.webhook_id, enabled=False)  # no change: no event
        admin.delete_webhook(made.webhook_id)
        seen = admin.list_model_events(after_event_id=start).events
        assert [e.kind for e in seen] == ["webhook_created", "webhook_updated", "webhook_deleted"]
        assert all(e.actor == "root-admin" and e.model_name == "" for e in seen)
        created = seen[0].after
        assert created["url"] == "http://127.0.0.1:9/hook"  # no query string
        assert created["events"] == ["alias_set"]
        assert seen[1].before["enabled"] is True and seen[1].after["enabled"] is False
        assert seen[2].before["webhook_id"] == made.webhook_id
        _, reader = server.principal_client("reader", "audit")
        assert reader.list_model_events(after_event_id=start).events == ()
    finally:
        server.close()
