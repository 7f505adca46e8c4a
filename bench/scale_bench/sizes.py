"""How big the registry's tables are after a step: rows, and bytes on disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa


@dataclass
class Sizes:
    models: int
    versions: int
    events: int
    model_bytes: int
    version_bytes: int
    event_bytes: int
    database_bytes: int

    @property
    def per_version(self) -> float:
        return self.version_bytes / max(1, self.versions)

    @property
    def per_event(self) -> float:
        return self.event_bytes / max(1, self.events)


_MODEL_TABLES = ("registered_models", "registered_model_tags", "registered_model_aliases")
_VERSION_TABLES = ("model_versions", "model_version_tags", "model_version_datasets")


def sizes(url: str) -> Sizes:
    """Row counts and bytes on disk (tables with their indexes and TOAST)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:

            def total(tables: Sequence[str]) -> int:
                parts = " + ".join(f"pg_total_relation_size('{t}')" for t in tables)
                return int(conn.exec_driver_sql(f"SELECT {parts}").scalar_one())

            def count(table: str) -> int:
                return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())

            return Sizes(
                models=count("registered_models"),
                versions=count("model_versions"),
                events=count("model_events"),
                model_bytes=total(_MODEL_TABLES),
                version_bytes=total(_VERSION_TABLES),
                event_bytes=total(("model_events",)),
                database_bytes=int(
                    conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
                ),
            )
    finally:
        engine.dispose()
