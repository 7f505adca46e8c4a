"""SQL storage: tables, engine setup and repository functions.

Nothing here imports protobuf; functions take a SQLAlchemy Connection inside a
transaction the domain opened, and return domain entities.
"""
