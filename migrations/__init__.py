"""Alembic migrations: the only way the schema changes, on PostgreSQL and SQLite.

Shipped inside the installed server as ``registry_server.migrations``.
"""
