"""The command line: flags, the order of a run (S3, the registry server, the file, the
phases, the report) and cleaning up after it, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from harness import write_json
from minio import Minio

from registry_client import RegistryClient

from .measure import RssSampler, mib, proc_status_kib
from .phases import PART_SIZE, FallbackDetector, Transfer, run_rounds, sha256_of, write_random_file
from .report import print_report
from .servers import registry_server, start_s3
from .stats import MiB, set_ratios

log = logging.getLogger("bench")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def benchmark(
    args: argparse.Namespace, work: Path, cleanups: list[Callable[[], None]]
) -> dict[str, Any]:
    size = args.size_mib * MiB
    s3, moto_proc = start_s3(work, cleanups)

    run_id = f"run-{uuid.uuid4().hex[:8]}"
    bucket = args.bucket
    minio = s3.client()
    if not minio.bucket_exists(bucket):
        minio.make_bucket(bucket)

    stack = contextlib.ExitStack()
    cleanups.append(stack.close)  # the server stops before its database is dropped
    secure = "true" if s3.secure else "false"
    store = f"s3://{bucket}/{run_id}?endpoint={s3.endpoint}&secure={secure}"
    server, database = stack.enter_context(registry_server(work, s3, store, args.workers))

    # The file.
    src_dir = work / "src"
    src_dir.mkdir()
    src = src_dir / "model.bin"
    started = time.perf_counter()
    expected = write_random_file(src, size)
    log.info("wrote %d MiB of random bytes in %.1f s", args.size_mib, time.perf_counter() - started)

    # What verifying costs: the registry client hashes an upload before it
    # sends it and a download while it receives it; minio's fget does not.
    started = time.perf_counter()
    sha256_of(src)
    hash_seconds = round(time.perf_counter() - started, 3)
    # Two at once take as long as one on a quiet machine; longer means other
    # processes (or a host) take CPU from the run, and the "ceiling" column,
    # which counts on both cores, is too high.
    started = time.perf_counter()
    hashers = [threading.Thread(target=sha256_of, args=(src,)) for _ in range(2)]
    for hasher in hashers:
        hasher.start()
    for hasher in hashers:
        hasher.join()
    two_hash_seconds = round(time.perf_counter() - started, 3)

    pids = {"server": server.pid, "bench": os.getpid()}
    if moto_proc is not None:
        pids["s3"] = moto_proc.pid
    client = RegistryClient(server.target, actor="bench", timeout=60.0)
    cleanups.append(client.close)
    direct_key = f"{run_id}/direct/model.bin"
    cleanups.append(lambda: minio.remove_object(bucket, direct_key))
    detector = FallbackDetector()
    logging.getLogger("registry_client").addHandler(detector)
    transfer = Transfer(
        work=work,
        src=src,
        size=size,
        expected=expected,
        minio=minio,
        bucket=bucket,
        direct_key=direct_key,
        client=client,
        model=f"bench-{uuid.uuid4().hex[:8]}",
        detector=detector,
    )
    server_rss_start = mib(proc_status_kib(server.pid, "VmRSS"))

    load_before = os.getloadavg()
    with RssSampler(pids) as sampler:
        phases = run_rounds(transfer, sampler, args.rounds, cleanups)
        server_hwm = mib(proc_status_kib(server.pid, "VmHWM"))
    first_byte = first_byte_seconds(minio, bucket, direct_key)

    set_ratios(phases, os.cpu_count() or 1)
    return {
        "size_mib": args.size_mib,
        "download_rounds": args.rounds,
        "part_size_mib": PART_SIZE // MiB,
        "s3": {"endpoint": s3.endpoint, "moto": s3.local},
        "database": database,
        "server_workers": args.workers,
        "sha256_seconds": hash_seconds,
        "sha256_two_threads_seconds": two_hash_seconds,
        "s3_first_byte_seconds": first_byte,
        "server_rss_start_mib": server_rss_start,
        "server_vmhwm_final_mib": server_hwm,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            # Anything else running skews the figures; a 1-minute load
            # average well above 0 before the run says so.
            "loadavg_1m_before": round(load_before[0], 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        },
        "phases": [asdict(p) for p in phases],
    }


def first_byte_seconds(minio: Minio, bucket: str, key: str, tries: int = 3) -> float:
    """How long S3 takes to send the first bytes of the file (the median of
    `tries`): a download that hashes what it receives cannot start hashing
    sooner, so it takes at least this plus the sha256 of the whole file."""
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        response = minio.get_object(bucket, key)
        try:
            response.read(64 * 1024)
            times.append(time.perf_counter() - started)
        finally:
            response.close()
            response.release_conn()
    return round(statistics.median(times), 3)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/artifact_transfer.py",
        description="Time uploads and downloads of one large file through the registry server "
        "and directly to the same S3 endpoint, and sample the server's memory.",
        epilog="Environment: REGISTRY_BENCH_S3_ENDPOINT (+ AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY) to use an existing S3 endpoint instead of a local moto server; "
        "REGISTRY_BENCH_DATABASE_URL=postgresql+psycopg2://user@host/db to keep the metadata in a "
        "throwaway database on that PostgreSQL server instead of a temporary SQLite file.",
    )
    parser.add_argument(
        "--size-mib", type=int, default=1024, help="file size in MiB (default 1024)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument(
        "--bucket", default="registry-bench", help="S3 bucket (default registry-bench)"
    )
    parser.add_argument(
        "--workers", type=int, default=16, help="the server's worker threads (default 16)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="how often each download phase runs, alternating; the table shows "
        "the median (default 5)",
    )
    parser.add_argument(
        "--tmp-dir", help="where the temporary folder goes (default: the system's temp dir)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.size_mib < 1:
        raise SystemExit("--size-mib must be at least 1")
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("registry_client").setLevel(logging.WARNING)
    # Ctrl-C and SIGTERM both unwind through the cleanup below, even when
    # SIGINT was inherited as ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    work = Path(tempfile.mkdtemp(prefix="registry-bench-", dir=args.tmp_dir))
    cleanups: list[Callable[[], None]] = []
    try:
        result = benchmark(args, work, cleanups)
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        # Ignore further Ctrl-C/SIGTERM while the processes and files go away.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:
                print(f"cleanup: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    print_report(result)
    write_json(args.json, result)
    return 0
