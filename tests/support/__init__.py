"""Test-infrastructure helpers: a real PostgreSQL server and a real S3 endpoint for the suite.

Importable as ``support`` (pytest's default "prepend" import mode puts ``tests/`` on
``sys.path``).  Each backend is chosen by the same chain, see the developer guide:

* PostgreSQL: ``REGISTRY_TEST_DATABASE_URL`` -> testcontainers PostgreSQL (if a Docker engine
  answers) -> a throwaway cluster from the local ``initdb``/``pg_ctl`` binaries.
* S3: ``REGISTRY_TEST_S3_ENDPOINT`` -> testcontainers MinIO (if a Docker engine answers) ->
  moto's standalone S3 server in a subprocess.
"""
