"""Webhook deliveries per second to a local receiver, on PostgreSQL.

Two runs, each on a throwaway database with `registry-server serve` (one or
more replicas, each its own process) and an HTTP receiver in this process
(tests/support/webhook_receiver.py, which verifies every signature):

- drain: `--queued` events written straight through the schema before the
  servers start (the trigger queues a delivery for each), then the rate at
  which the servers deliver them, first arrival to last;
- live: `--writers` threads make `--changes` tag changes through the API, and
  the lag from each event's commit to its arrival (p50, p99).

    .venv/bin/python bench/webhooks.py
    .venv/bin/python bench/webhooks.py --queued 20000 --replicas 2 --json webhooks.json

`REGISTRY_BENCH_DATABASE_URL` names an administrative database on the server
to use (a new database is created beside it and dropped afterwards); the
default is postgres on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa
from harness import (
    DEFAULT_ADMIN_URL,
    machine_info,
    percentile,
    print_table,
    server_process,
    throwaway_database,
    write_json,
)
from support.webhook_receiver import receiver

from registry_client import RegistryClient
from registry_server import migrate
from registry_server.domain.events import EventKind
from registry_server.store import events as event_store
from registry_server.store.database import make_engine
from registry_server.store.schema import webhooks as webhooks_t

SECRET = "bench-webhook-secret-0123456789"
ENV = {"REGISTRY_ALLOW_INSECURE_WEBHOOKS": "true", "REGISTRY_ALLOW_PRIVATE_WEBHOOKS": "true"}


def _queue_events(url: str, hook_url: str, count: int) -> None:
    """A webhook and `count` events written straight through the schema: the
    trigger of migration 0009 queues one delivery per event, as for any writer."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            now = int(time.time() * 1000)
            conn.execute(
                sa.insert(webhooks_t).values(
                    url=hook_url,
                    secret="plain:" + SECRET,
                    enabled=True,
                    creation_time=now,
                    last_updated_time=now,
                )
            )
            for start in range(0, count, 1000):
                rows = [
                    event_store.row(
                        model_id=1,
                        model_name="bench",
                        kind=EventKind.MODEL_TAG_SET,
                        actor="bench",
                        now=now,
                        after={"key": "n", "value": str(n)},
                    )
                    for n in range(start, min(count, start + 1000))
                ]
                event_store.insert(conn, rows)
    finally:
        engine.dispose()


def drain(admin_url: str, count: int, replicas: int) -> dict[str, float]:
    """Deliveries per second once `count` are queued, sent by `replicas` servers."""
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_database(admin_url))
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        store = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-webhooks-"))
        hook = stack.enter_context(receiver(SECRET))
        _queue_events(url, hook.url, count)
        for _ in range(replicas):
            stack.enter_context(server_process(url, store, env=ENV))
        deadline = time.monotonic() + 600
        while len(hook.delivered()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        arrived = [r.arrived_ms for r in hook.delivered()]
        everything = hook.all()
    seconds = max(1, max(arrived) - min(arrived)) / 1000
    return {
        "queued": count,
        "delivered": len(arrived),
        "deliveries_per_s": (len(arrived) - 1) / seconds,
        "duplicates": len(everything) - len({r.delivery_id for r in everything}),
        "unsigned": sum(1 for r in everything if not r.signed),
    }


def live(admin_url: str, count: int, writers: int, replicas: int) -> dict[str, float]:
    """Lag from commit to arrival while `writers` threads make `count` changes."""
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_database(admin_url))
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        store = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-webhooks-"))
        hook = stack.enter_context(receiver(SECRET))
        servers = [
            stack.enter_context(server_process(url, store, env=ENV)) for _ in range(replicas)
        ]
        clients = [stack.enter_context(RegistryClient(s.target)) for s in servers]
        clients[0].create_webhook(hook.url, secret=SECRET, events=["model_tag_set"])
        names = [f"bench-{i}" for i in range(writers)]
        for name in names:
            clients[0].create_registered_model(name)
        per_writer = count // writers

        def write(i: int) -> None:
            client = clients[i % len(clients)]
            for n in range(per_writer):
                client.set_registered_model_tag(names[i], "n", str(n))

        started = time.monotonic()
        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        written = time.monotonic() - started
        deadline = time.monotonic() + 600
        while len(hook.delivered()) < per_writer * writers and time.monotonic() < deadline:
            time.sleep(0.01)
        # Arrival (receiver's clock) minus commit (the event's timestamp): one machine.
        lags = [r.arrived_ms - r.body["timestamp"] for r in hook.delivered()]
    return {
        "changes": per_writer * writers,
        "writes_per_s": per_writer * writers / written,
        "lag_p50_ms": percentile(lags, 0.5),
        "lag_p99_ms": percentile(lags, 0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queued", type=int, default=5000, help="deliveries to drain")
    parser.add_argument("--changes", type=int, default=1000, help="changes for the lag")
    parser.add_argument("--writers", type=int, default=4, help="writer threads (default 4)")
    parser.add_argument("--replicas", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    admin_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    drained = drain(admin_url, args.queued, args.replicas)
    lagged = live(admin_url, args.changes, args.writers, args.replicas)
    print_table(
        ["replicas", "queued", "deliveries/s", "changes/s", "lag p50 ms", "lag p99 ms"],
        [
            [
                args.replicas,
                args.queued,
                f"{drained['deliveries_per_s']:.0f}",
                f"{lagged['writes_per_s']:.0f}",
                f"{lagged['lag_p50_ms']:.0f}",
                f"{lagged['lag_p99_ms']:.0f}",
            ]
        ],
    )
    print(
        f"delivered {drained['delivered']}/{args.queued}, duplicates {drained['duplicates']}, "
        f"bad signatures {drained['unsigned']}"
    )
    write_json(args.json, {"drain": drained, "live": lagged, "machine": machine_info()})
    ok = drained["delivered"] == args.queued and not drained["unsigned"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
