"""`serve --processes N`: N server processes sharing one port.

Python runs one thread at a time per process (the GIL), so one server process
uses about one core however many worker threads it has: on a 2-core machine
the fastest calls (get by alias, resolve) top out near 1,500 per second with
the second core idle. Running one process per core, each listening on the
same address with SO_REUSEPORT, lets the kernel spread incoming connections
over them (Linux balances new connections across the listeners; a client's
channel stays on the process that accepted it).

The supervisor (this module, the process `serve` was started as) prepares the
database once (migrating the embedded SQLite file, or checking a PostgreSQL
schema), then starts the children as `registry-server serve` with the same
arguments, forwards SIGTERM/SIGINT to them and waits for them to finish their
in-flight calls. If a child dies on its own, the supervisor stops the others
and exits non-zero, so the container or service manager restarts the whole
server rather than leaving it running at part strength.

Everything else a process keeps is either per call or in the database
(upload reservations, tokens, grants), so the children need no coordination;
the token cache of each child honours revocations within its own 5 s.

Metrics (``--http-listen``) are the exception: a scrape reaches one process
but must count the calls of all. The supervisor gives the children one
directory in PROMETHEUS_MULTIPROC_DIR (a fresh temporary one, removed at
exit; or the operator's, emptied of metric files first), where
prometheus_client keeps every process's values in memory-mapped files that
any process sums when scraped (metrics.py). A child that exits has its live
gauges (pools in use, open streams) dropped from the sum.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from registry_server.config import ServerConfig, load_tls
from registry_server.metrics import MULTIPROC_ENV

log = logging.getLogger(__name__)

# A child that is still running this long after the grace period is killed.
_KILL_AFTER_GRACE_SECONDS = 5.0


def child_command(argv: Sequence[str]) -> list[str]:
    """The command line of one child: the supervisor's own arguments, then
    one process and a shared port (later flags win in argparse)."""
    return [
        sys.executable,
        "-m",
        "registry_server.cli",
        *argv,
        "--processes",
        "1",
        "--reuse-port",
    ]


def serve_processes(config: ServerConfig, argv: Sequence[str]) -> int:
    """Run `config.processes` servers on one port until SIGTERM or SIGINT."""
    from registry_server.server import prepare_database

    config.check_exposure()
    load_tls(config)  # a bad certificate is reported once, here
    # Migrate (SQLite) or check the schema (PostgreSQL) once, not N times at once.
    prepare_database(config.database_url, pool_size=1).dispose()

    stopping = threading.Event()
    received: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    command = child_command(argv)
    metrics_dir, made = _metrics_dir(config)
    env = None if metrics_dir is None else {**os.environ, MULTIPROC_ENV: metrics_dir}
    if env is not None and not config.download_url_key:
        # One key for every process: a download URL one of them signed is
        # good on whichever the kernel hands its GET to (http/files.py).
        env["REGISTRY_DOWNLOAD_URL_KEY"] = secrets.token_urlsafe(32)
    try:
        return _supervise(config, command, env, stopping, received, metrics_dir)
    finally:
        if made and metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir(config: ServerConfig) -> tuple[str | None, bool]:
    """The children's PROMETHEUS_MULTIPROC_DIR, and whether it was made here
    (then it is removed at exit). None without --http-listen: no metrics."""
    if config.http_listen is None:
        return None, False
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        # Values left by an earlier run would be added to this one's.
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink(missing_ok=True)
        return given, False
    return tempfile.mkdtemp(prefix="registry-metrics-"), True


def _process_gone(pid: int, metrics_dir: str | None) -> None:
    """Drop an exited child's live gauges from the metrics' sum."""
    if metrics_dir is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, metrics_dir)


def _supervise(
    config: ServerConfig,
    command: list[str],
    env: dict[str, str] | None,
    stopping: threading.Event,
    received: list[int],
    metrics_dir: str | None,
) -> int:
    children = [subprocess.Popen(command, env=env) for _ in range(config.processes)]
    log.info(
        "supervising %d server processes on %s (pids %s)",
        len(children),
        config.listen,
        ", ".join(str(c.pid) for c in children),
    )
    failed: subprocess.Popen[bytes] | None = None
    while not stopping.wait(0.2):
        failed = next((c for c in children if c.poll() is not None), None)
        if failed is not None:
            break
    if failed is not None:
        log.error(
            "server process %d exited with %s; stopping the others", failed.pid, failed.returncode
        )
    else:
        log.info("received %s; stopping server processes", signal.Signals(received[0]).name)
    _stop(children, config.grace_seconds)
    for child in children:
        _process_gone(child.pid, metrics_dir)
    return 1 if failed is not None else 0


def _stop(children: list[subprocess.Popen[bytes]], grace: float) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + _KILL_AFTER_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("server process %d did not stop in time; killing it", child.pid)
            child.kill()
            child.wait()
