"""The processes a run needs: an S3 endpoint ($REGISTRY_BENCH_S3_ENDPOINT, or moto's
standalone server started here) and the registry server on its own database.

moto is started here rather than with tests/support/s3.py's `moto_s3_server`, which does
not hand out its process: the benchmark samples moto's memory and CPU.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from harness import ServerProcess, free_port, server_process, throwaway_database, wait_for_port
from minio import Minio

MOTO_KEYS = ("bench-access-key", "bench-secret-key")  # moto accepts any credentials

log = logging.getLogger("bench")


def spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a process in its own session (Ctrl-C reaches only us; we stop it)."""
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers, and reap the process."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
            return


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass(frozen=True)
class S3Target:
    endpoint: str  # host:port
    secure: bool
    access_key: str
    secret_key: str
    local: bool  # started by this script (moto)

    def client(self) -> Minio:
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.secure,
        )


def s3_from_env() -> S3Target | None:
    url = os.environ.get("REGISTRY_BENCH_S3_ENDPOINT", "").strip()
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SystemExit(f"REGISTRY_BENCH_S3_ENDPOINT must be http(s)://host:port, got {url!r}")
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        raise SystemExit("REGISTRY_BENCH_S3_ENDPOINT needs AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    return S3Target(parts.netloc, parts.scheme == "https", access, secret, local=False)


def start_s3(
    work: Path, cleanups: list[Callable[[], None]]
) -> tuple[S3Target, subprocess.Popen[bytes] | None]:
    """The endpoint from the environment, else moto on a free loopback port, stopped by
    `cleanups`; with moto's process (None for an external endpoint)."""
    s3 = s3_from_env()
    moto_proc: subprocess.Popen[bytes] | None = None
    if s3 is None:
        port = free_port()
        moto_proc = spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            dict(os.environ, MOTO_PORT=str(port)),
            work / "moto.log",
        )
        proc = moto_proc
        cleanups.append(lambda: stop(proc))
        try:
            wait_for_port("127.0.0.1", port, 60, process=moto_proc)
        except (RuntimeError, TimeoutError):
            print(tail(work / "moto.log"), file=sys.stderr)
            raise
        s3 = S3Target(f"127.0.0.1:{port}", False, *MOTO_KEYS, local=True)
    log.info("S3 endpoint: %s (%s)", s3.endpoint, "moto, local" if s3.local else "external")
    return s3, moto_proc


@contextlib.contextmanager
def registry_server(
    work: Path, s3: S3Target, store: str, workers: int
) -> Iterator[tuple[ServerProcess, str]]:
    """The registry server, as its own process (tests/support/server_process.py, through
    bench/harness.py, starts it on a free loopback port, waits until it is healthy and
    stops it), with a description of its database.

    The database is a SQLite file in `work`, or, when $REGISTRY_BENCH_DATABASE_URL names a
    PostgreSQL database, a throwaway database beside it, upgraded first (`serve` does not
    migrate PostgreSQL). The server stops before its database is dropped.
    """
    with contextlib.ExitStack() as stack:
        database_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", "").strip()
        if not database_url:
            database_url, database = f"sqlite:///{work / 'registry.db'}", "SQLite (temporary file)"
        elif database_url.startswith("sqlite"):
            database = "SQLite"
        else:
            database_url = stack.enter_context(throwaway_database(database_url))
            database = f"{sa.make_url(database_url).get_backend_name()} (throwaway database)"
        s3_env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
        # The side port: DownloadArtifact's HTTP alternative (signed URLs).
        side_port = {"REGISTRY_HTTP_LISTEN": f"127.0.0.1:{free_port()}"}
        if not database_url.startswith("sqlite"):
            upgrade = subprocess.run(
                [sys.executable, "-m", "registry_server.cli", "db", "upgrade"],
                env={**os.environ, **s3_env, "REGISTRY_DATABASE_URL": database_url},
                capture_output=True,
                text=True,
            )
            if upgrade.returncode != 0:
                raise RuntimeError(f"registry-server db upgrade failed:\n{upgrade.stderr}")
        server = stack.enter_context(
            server_process(
                database_url, store, workers=workers, log_level="INFO", env=s3_env | side_port
            )
        )
        log.info("registry server pid %d on %s, %s", server.pid, server.target, database)
        yield server, database
