"""Shared fixtures: a real PostgreSQL, a SQLite file, and the real gRPC server
on a free loopback port for each, called through the public client.

Tests that take `client`, `target` or `registry` run once per backend:
"sqlite" is the embedded default (SQLite file + local artifact folder),
"postgresql" the production shape (PostgreSQL + an S3 endpoint over HTTP).
Each test gets a fresh model name, so tests share one server and database per
backend without seeing each other's data.

Two lanes: `pytest -q` runs everything; `pytest -q -m "not slow"` leaves out what is marked
`slow` (fault, load, process and packaging tests, by their modules or one by one; tests that
wait out real timers) and the property-based (hypothesis) tests; the fixed regression cases
next to those stay in.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.artifacts import make_model_dir
from support.auth import AuthServer, auth_server
from support.cli import ACTOR, Run
from support.local_server import start_local
from support.postgres import postgres_server, temporary_database
from support.s3 import S3Endpoint, s3_endpoint

from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import RegistryClient
from registry_client.cli import main
from registry_server import migrate
from registry_server.server import RunningServer
from registry_server.store.database import make_engine

# MLflow 3 keeps its tracking store in ./mlflow.db unless told otherwise: a test
# that forgets to set one writes into a folder of its own, not into the checkout.
os.environ.setdefault(
    "MLFLOW_TRACKING_URI",
    f"sqlite:///{tempfile.mkdtemp(prefix='registry-tests-mlflow-')}/mlflow.db",
)

BACKENDS = ("sqlite", "postgresql")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Property-based (hypothesis) tests are slow-lane: each case runs dozens of examples and
    snapshots the shared database around every one (seconds per RPC on PostgreSQL, about a
    quarter of the fast lane's time even on SQLite alone)."""
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def pg_database_url(pg_server_url: str) -> Iterator[str]:
    """The session's own PostgreSQL database, upgraded to the newest schema."""
    with temporary_database(pg_server_url) as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def empty_pg_database(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for migration and startup tests."""
    with temporary_database(pg_server_url, prefix="registry_empty") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder: Path = tmp_path_factory.mktemp("sqlite")
    return f"sqlite:///{folder / 'registry.db'}"


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """A real S3 endpoint; the server reads its credentials from AWS_* variables."""
    with s3_endpoint() as endpoint:
        saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        os.environ["AWS_ACCESS_KEY_ID"] = endpoint.access_key
        os.environ["AWS_SECRET_ACCESS_KEY"] = endpoint.secret_key
        yield endpoint
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def s3_store_url(endpoint: S3Endpoint, bucket: str, prefix: str = "") -> str:
    secure = "true" if endpoint.secure else "false"
    path = f"/{prefix}" if prefix else ""
    return f"s3://{bucket}{path}?endpoint={endpoint.endpoint}&secure={secure}"


@pytest.fixture(scope="session")
def sqlite_artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def sqlite_server(sqlite_database_url: str, sqlite_artifact_dir: Path) -> Iterator[RunningServer]:
    running = start_local(sqlite_database_url, str(sqlite_artifact_dir))
    yield running
    running.stop(grace=1)


@pytest.fixture(scope="session")
def pg_artifact_store(s3: S3Endpoint) -> str:
    return s3_store_url(s3, "registry-test", f"run-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def postgres_server_handle(pg_database_url: str, pg_artifact_store: str) -> Iterator[RunningServer]:
    running = start_local(pg_database_url, pg_artifact_store)
    yield running
    running.stop(grace=1)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def registry(backend: str, request: pytest.FixtureRequest) -> RunningServer:
    fixture = "sqlite_server" if backend == "sqlite" else "postgres_server_handle"
    return request.getfixturevalue(fixture)


@pytest.fixture(scope="session")
def target(registry: RunningServer) -> str:
    return f"127.0.0.1:{registry.port}"


@pytest.fixture(scope="session")
def client(target: str) -> Iterator[RegistryClient]:
    with RegistryClient(target, actor="test-suite") as c:
        yield c


@pytest.fixture(scope="session")
def pg_target(postgres_server_handle: RunningServer) -> str:
    return f"127.0.0.1:{postgres_server_handle.port}"


@pytest.fixture(scope="session")
def pg_client(pg_target: str) -> Iterator[RegistryClient]:
    with RegistryClient(pg_target, actor="test-suite") as c:
        yield c


@pytest.fixture
def model_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses, readable in failure output."""
    stem = request.node.name.split("[")[0].removeprefix("test_")[:40]
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _quiet_call_log() -> None:
    logging.getLogger("registry_server.calls").setLevel(logging.WARNING)


@pytest.fixture
def stub(target: str) -> Iterator[registry_pb2_grpc.ModelRegistryStub]:
    """The generated stub on its own channel: raw messages, page sizes and fields the
    typed client does not expose."""
    with grpc.insecure_channel(target) as channel:
        yield registry_pb2_grpc.ModelRegistryStub(channel)


# --------------------------------------------------------------------- the `registry` CLI


@pytest.fixture
def run(target: str, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the CLI against the test server; returns (exit code, stdout, stderr)."""

    def _run(*argv: str, actor: str = ACTOR) -> tuple[int, str, str]:
        code = main(["--target", target, "--actor", actor, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def run_json(run: Run) -> Callable[..., Any]:
    """Run a command with --output json, require success, return the parsed document."""

    def _run_json(*argv: str, actor: str = ACTOR) -> Any:
        code, out, err = run("--output", "json", *argv, actor=actor)
        assert code == 0, err
        return json.loads(out)

    return _run_json


# ------------------------------------------------------------- registry-held artifacts


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A model folder to upload (support.artifacts.make_model_dir)."""
    return make_model_dir(tmp_path)


@pytest.fixture
def logged(client: RegistryClient, model_name: str, src: Path) -> Any:
    """`src` logged as version 1 of a new model."""
    client.create_registered_model(model_name)
    return client.log_model_version(model_name, src, run_id="run-1")


@pytest.fixture
def own_client(target: str) -> Iterator[RegistryClient]:
    """A client of its own, whose stub a test may tamper with; retries are instant."""
    with RegistryClient(target, actor="test-suite") as c:
        c._sleep = lambda _seconds: None
        yield c


# ------------------------------------------------------- servers with authentication on


@pytest.fixture(scope="module")
def sqlite_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("auth-sqlite")
    with auth_server(f"sqlite:///{folder / 'registry.db'}", folder, "sqlite") as server:
        yield server


@pytest.fixture(scope="module")
def pg_auth(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("auth-pg")
    with temporary_database(pg_server_url, prefix="registry_auth") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        with auth_server(url, folder, "postgresql") as server:
            yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def auth(request: pytest.FixtureRequest) -> AuthServer:
    """The access scenario tests run on both backends (grants and visibility are SQL)."""
    return request.getfixturevalue("sqlite_auth" if request.param == "sqlite" else "pg_auth")
