"""A real PostgreSQL server for the test suite, and a fresh database per test session.

``postgres_server()`` picks the server, in this order (developer guide):

1. ``REGISTRY_TEST_DATABASE_URL`` when set: a server-level SQLAlchemy URL such as
   ``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``, used as is;
2. a testcontainers PostgreSQL when a Docker engine answers a 2 s ping;
3. a throwaway cluster from the local PostgreSQL binaries (``initdb``/``pg_ctl`` on ``PATH`` or
   under ``/usr/lib/postgresql/*/bin``, newest first).

``temporary_database()`` then creates ``registry_test_<8 hex>`` on that server and drops it
afterwards, even while connections to it are still open.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from .docker import docker_available
from .net import free_port

DATABASE_URL_ENV = "REGISTRY_TEST_DATABASE_URL"
POSTGRES_IMAGE = "postgres:16-alpine"
LOCAL_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "postgres"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server could be found or started for the tests."""


# --------------------------------------------------------------------------- server chain


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a server-level URL ``postgresql+psycopg2://user[:pw]@host:port/postgres``.

    Whatever this starts (a container, a local cluster) is stopped and removed on exit.
    """
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        yield url
        return

    problems: list[str] = [f"{DATABASE_URL_ENV} is not set"]

    if docker_available():
        container = _start_postgres_container(problems)
        if container is not None:
            try:
                yield container.get_connection_url()
            finally:
                container.stop()
            return
    else:
        problems.append("no Docker engine answered a 2 s ping")

    if find_postgres_bindir() is not None:
        with local_postgres_cluster() as url:
            yield url
        return
    problems.append(
        f"no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under {LOCAL_BIN_GLOB}"
    )

    raise PostgresUnavailableError(
        "The tests need a real PostgreSQL server and none is available ("
        + "; ".join(problems)
        + "). Do one of:\n"
        f"  1. set {DATABASE_URL_ENV} to a server-level URL, e.g. "
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres (the user must be allowed to "
        "CREATE DATABASE);\n"
        "  2. start a Docker engine, so a PostgreSQL container can be run through "
        "testcontainers;\n"
        "  3. install the PostgreSQL server binaries (Debian/Ubuntu: apt-get install "
        "postgresql), so a throwaway local cluster can be started."
    )


def _start_postgres_container(problems: list[str]):
    """Start a PostgreSQL container, or record why not and return None."""
    try:
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers < 4.10
            from testcontainers.postgres import PostgresContainer

        container = PostgresContainer(
            POSTGRES_IMAGE,
            username=SUPERUSER,
            password=SUPERUSER,
            dbname="postgres",
            driver="psycopg2",
        )
        container.start()
    except Exception as exc:  # image pull failure, engine hiccup, ...
        problems.append(f"a PostgreSQL container could not be started: {exc!r}")
        return None
    return container


# --------------------------------------------------------------------------- database


@contextmanager
def temporary_database(server_url: str, prefix: str = "registry_test") -> Iterator[str]:
    """Create a fresh database ``<prefix>_<8 hex>`` on ``server_url`` and yield its URL.

    The database is dropped on exit; connections still open to it are terminated first.
    """
    if not _IDENTIFIER.match(prefix):
        raise ValueError(f"database prefix {prefix!r} must be a lower-case SQL identifier")
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            _drop_database(admin, name)
    finally:
        admin.dispose()


def _drop_database(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        major = (conn.dialect.server_version_info or (0,))[0]
        force = " WITH (FORCE)" if major >= 13 else ""
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"{force}')


def database_exists(server_url: str, name: str) -> bool:
    """True when database ``name`` exists on the server behind ``server_url``."""
    engine = sa.create_engine(server_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
        return found is not None
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- local cluster


@dataclass(frozen=True)
class _Bindir:
    path: Path
    version: tuple[int, ...]


def _bindir_version(bindir: Path) -> tuple[int, ...] | None:
    pg_ctl = bindir / "pg_ctl"
    if not (os.access(bindir / "initdb", os.X_OK) and os.access(pg_ctl, os.X_OK)):
        return None
    try:
        out = subprocess.run(
            [str(pg_ctl), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+(?:\.\d+)*)", out)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def find_postgres_bindir() -> Path | None:
    """The directory of the newest usable ``initdb``/``pg_ctl`` pair, or None.

    Looks at ``initdb`` on ``PATH`` (symlinks resolved, so ``pg_ctl`` and ``postgres`` are
    found next to it) and at ``/usr/lib/postgresql/*/bin``.
    """
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates.extend(Path(p) for p in sorted(glob.glob(LOCAL_BIN_GLOB)))

    found: list[_Bindir] = []
    for path in dict.fromkeys(candidates):  # dedupe, keep order (PATH first wins ties)
        version = _bindir_version(path)
        if version is not None:
            found.append(_Bindir(path, version))
    if not found:
        return None
    return max(found, key=lambda b: b.version).path


def _as_postgres_user() -> list[str]:
    """Command prefix to run the PostgreSQL binaries, which refuse to run as root."""
    if os.geteuid() != 0:
        return []
    try:
        import pwd

        pwd.getpwnam(SUPERUSER)
    except KeyError as exc:
        raise PostgresUnavailableError(
            "running as root, and the PostgreSQL binaries refuse to run as root, but there is "
            f"no '{SUPERUSER}' system user to run them as"
        ) from exc
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailableError("running as root but 'runuser' is not available")
    return [runuser, "-u", SUPERUSER, "--"]


def _run(cmd: list[str], cwd: Path, what: str, timeout: float = 120) -> None:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise PostgresUnavailableError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )


@contextmanager
def local_postgres_cluster(bindir: Path | str | None = None) -> Iterator[str]:
    """Start a throwaway cluster from the local binaries; yield its server-level URL.

    The cluster lives in a fresh temporary directory (owned by ``postgres`` when running as
    root), listens only on 127.0.0.1 on a free port, keeps its unix socket in that directory and
    trusts every local connection.  On exit it is stopped (``pg_ctl stop -m fast``) and the
    directory removed.
    """
    bindir = Path(bindir) if bindir is not None else find_postgres_bindir()
    if bindir is None:
        raise PostgresUnavailableError(
            f"no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under {LOCAL_BIN_GLOB}"
        )
    prefix = _as_postgres_user()
    initdb, pg_ctl = str(bindir / "initdb"), str(bindir / "pg_ctl")

    root = Path(tempfile.mkdtemp(prefix="registry-pg-"))
    data = root / "data"
    log = root / "server.log"
    started = False
    try:
        if prefix:
            import pwd

            entry = pwd.getpwnam(SUPERUSER)
            os.chown(root, entry.pw_uid, entry.pw_gid)

        initdb_options = ["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]
        _run([*prefix, initdb, "-D", str(data), *initdb_options], cwd=root, what="initdb")

        last_error: Exception | None = None
        for _attempt in range(3):  # the free port may be taken between picking and binding
            port = free_port()
            settings = (
                "\n# registry tests\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {port}\n"
                f"unix_socket_directories = '{root}'\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "max_connections = 200\n"
            )
            with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.write(settings)
            try:
                _run(
                    [*prefix, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"],
                    cwd=root,
                    what="pg_ctl start",
                )
            except PostgresUnavailableError as exc:
                log_text = log.read_text(errors="replace") if log.exists() else ""
                last_error = PostgresUnavailableError(f"{exc}\n--- server log ---\n{log_text}")
                _force_stop(data)
                continue
            started = True
            break
        if not started:
            assert last_error is not None
            raise last_error

        yield f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            try:
                _run(
                    [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"],
                    cwd=root,
                    what="pg_ctl stop",
                )
            except (PostgresUnavailableError, subprocess.SubprocessError):
                _force_stop(data)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class StoppableCluster:
    """A throwaway local cluster a test may stop and start (``pg_ctl``, as ``postgres``)."""

    url: str
    pg_ctl: Path
    data: Path
    as_postgres: tuple[str, ...]

    def _pg_ctl(self, *args: str) -> None:
        command = [*self.as_postgres, str(self.pg_ctl), "-D", str(self.data), *args]
        done = subprocess.run(
            command,
            cwd=self.data.parent,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=90,
        )
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"

    def stop(self, mode: str) -> None:
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def start(self) -> None:
        self._pg_ctl("-l", str(self.data.parent / "server.log"), "-w", "-t", "60", "start")


@contextmanager
def stoppable_cluster() -> Iterator[StoppableCluster]:
    """``local_postgres_cluster()`` with production durability, for tests that restart it.

    The suite's clusters trade durability for speed (synchronous_commit = off), so an
    immediate stop would lose commits already acknowledged to the registry, which is a database
    setting, not a registry bug: this one commits synchronously. Raises
    ``PostgresUnavailableError`` when there are no local server binaries.
    """
    bindir = find_postgres_bindir()
    if bindir is None:
        raise PostgresUnavailableError(
            "restarting PostgreSQL needs a cluster of its own, from local server binaries "
            f"(initdb, pg_ctl under {LOCAL_BIN_GLOB} or on PATH), and there are none"
        )
    as_postgres = tuple(_as_postgres_user())
    with local_postgres_cluster(bindir) as url:
        admin = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            data = Path(conn.exec_driver_sql("SHOW data_directory").scalar_one())
            conn.exec_driver_sql("ALTER SYSTEM SET synchronous_commit = on")
            conn.exec_driver_sql("SELECT pg_reload_conf()")
        admin.dispose()
        yield StoppableCluster(url, bindir / "pg_ctl", data, as_postgres)


def _force_stop(data: Path) -> None:
    """Kill the postmaster of ``data`` if its pid file says one is running."""
    pid_file = data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    # Only signal the pid if it really is the postmaster of this data directory (the pid file
    # may be stale and the pid reused).
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if str(data).encode() not in cmdline:
        return
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
