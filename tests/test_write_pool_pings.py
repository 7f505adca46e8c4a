"""The write pool pings only connections that sat idle (store/database.py).

PostgreSQL's pg_stat_activity shows each backend's last statement: after a
checkout that pinged, it is the ping's `SELECT 1`; after one that did not,
it is still the ROLLBACK with which the pool took the connection back.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from registry_server.store.database import RECENTLY_USED_SECONDS, make_engine


def _last_statement(observer: sa.Engine, pid: int) -> str:
    with observer.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar_one()
        )


def test_a_connection_used_moments_ago_is_not_pinged_an_idle_one_is(
    pg_database_url: str,
) -> None:
    writes = make_engine(pg_database_url, pool_size=1)
    observer = sa.create_engine(pg_database_url)
    try:
        with writes.connect() as conn:
            pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            conn.exec_driver_sql("SELECT 'first use'")
        with writes.connect() as conn:  # given back a moment ago: handed out as it is
            assert _last_statement(observer, pid) == "ROLLBACK"
            conn.exec_driver_sql("SELECT 'second use'")
        time.sleep(RECENTLY_USED_SECONDS + 0.2)
        with writes.connect() as conn:  # idle since: pinged before it is handed out
            assert _last_statement(observer, pid).strip().upper() == "SELECT 1"
    finally:
        writes.dispose()
        observer.dispose()


def test_a_connection_closed_under_the_pool_is_replaced_once_idle(pg_database_url: str) -> None:
    """What the ping is for: a backend that went away while its connection sat
    in the pool (a database restart) is noticed and replaced."""
    writes = make_engine(pg_database_url, pool_size=1)
    observer = sa.create_engine(pg_database_url)
    try:
        with writes.connect() as conn:
            pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        with observer.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        time.sleep(RECENTLY_USED_SECONDS + 0.2)
        with writes.connect() as conn:
            assert int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()) != pid
    finally:
        writes.dispose()
        observer.dispose()
