"""The measured operations: what each call does, and the names and ids it picks from."""

from __future__ import annotations

import random
from dataclasses import dataclass

import sqlalchemy as sa
from sql_plans import Call

from registry_client import RegistryClient

from .seeding import TEAMS

#: Events one watch reads from its cursor.
BACKLOG_EVENTS = 1_000


@dataclass(frozen=True)
class Workload:
    """What the calls pick from: model names with their version counts, the probe model,
    and the range of event ids a watch may start from."""

    names: tuple[str, ...]
    counts: tuple[int, ...]
    probe: str
    last_event_id: int

    @staticmethod
    def load(url: str, sample: int, rng: random.Random) -> Workload:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                top = int(
                    conn.exec_driver_sql("SELECT max(id) FROM registered_models").scalar_one()
                )
                ids = sorted(rng.sample(range(2, top + 1), min(sample, top - 1)))
                rows = conn.execute(
                    sa.text(
                        "SELECT name, last_version FROM registered_models WHERE id = ANY(:ids)"
                    ),
                    {"ids": ids},
                ).all()
                probe = conn.exec_driver_sql(
                    "SELECT name FROM registered_models WHERE id = 1"
                ).scalar_one()
                last = int(conn.exec_driver_sql("SELECT max(id) FROM model_events").scalar_one())
        finally:
            engine.dispose()
        return Workload(
            names=tuple(r.name for r in rows),
            counts=tuple(int(r.last_version) for r in rows),
            probe=str(probe),
            last_event_id=last,
        )


def operations(work: Workload, backlog: int) -> list[tuple[str, Call]]:
    """(label, call) for each measured operation; a call picks its model at random."""
    prefix = f"{TEAMS[0]}-%"

    def pick(rng: random.Random) -> tuple[str, int]:
        i = rng.randrange(len(work.names))
        return work.names[i], work.counts[i]

    def by_alias(client: RegistryClient, rng: random.Random) -> object:
        return client.get_model_version_by_alias(pick(rng)[0], "champion")

    def resolve(client: RegistryClient, rng: random.Random) -> object:
        return client.resolve(f"models:/{pick(rng)[0]}@champion")

    def get(client: RegistryClient, rng: random.Random) -> object:
        name, count = pick(rng)
        return client.get_model_version(name, rng.randint(1, count))

    def versions_of_one(client: RegistryClient, rng: random.Random) -> object:
        return client.search_model_versions(f"name = '{work.probe}'", 100)

    def models_by_prefix(client: RegistryClient, rng: random.Random) -> object:
        return client.search_registered_models(f"name LIKE '{prefix}'", 100)

    def models_by_tag(client: RegistryClient, rng: random.Random) -> object:
        return client.search_registered_models(f"tags.team = '{TEAMS[1]}'", 100)

    def history(client: RegistryClient, rng: random.Random) -> object:
        return client.list_model_events(pick(rng)[0])

    def watch_backlog(client: RegistryClient, rng: random.Random) -> object:
        cursor = rng.randrange(max(1, work.last_event_id - backlog))
        read = 0
        with client.watch_model_events(after_event_id=cursor, idle_timeout=60) as watch:
            for _ in watch:
                read += 1
                if read == backlog:
                    break
        return read

    return [
        ("get by alias", by_alias),
        ("resolve models:/m@champion", resolve),
        ("get version", get),
        ("search versions of one model (page 100)", versions_of_one),
        ("search models name LIKE prefix (page 100)", models_by_prefix),
        ("search models by tag (page 100)", models_by_tag),
        ("history of one model (ListModelEvents)", history),
        (f"watch backlog, {backlog:,} events from a cursor", watch_backlog),
    ]
