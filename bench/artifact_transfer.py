#!/usr/bin/env python3
"""Artifact transfer benchmark: through the registry server vs straight to S3.

Why this exists: registry-held model files do not go from the client to S3
directly. An upload travels client -> gRPC stream -> registry server -> S3
multipart upload (16 MiB parts), and a download without presigned URLs
travels S3 -> server -> gRPC stream -> client. This script measures, in one
run and against one S3 endpoint, what that detour costs compared with the
`minio` client talking to the same endpoint with the same part size, and
whether the server's memory stays flat (bounded by the parts in flight, not
by the file size).

Phases, in order, each on the same generated file of random bytes:

  direct upload       minio fput_object (16 MiB parts)             the baseline for uploads
  direct download     minio fget_object                            the baseline for downloads
  registry upload     RegistryClient.log_model_version             gRPC stream + server -> S3
  registry download   download_artifacts(prefer_presigned=False)  S3 -> server -> gRPC stream
  stream only         DownloadArtifact, chunks discarded          the same, without file or sha256
  presigned download  download_artifacts(prefer_presigned=True)   client GETs S3 itself

A 256 MiB download takes a quarter of a second, and moto's pace varies from
one upload to the next, so one measurement says little: every phase runs
`--rounds` times (default 5), alternating (the uploads, direct then through
the registry, then the downloads: direct, registry, stream only, presigned,
and again), and the table shows each phase's median. "stream only" is not something a user
runs; it separates what the transport costs from what the client's file
write and sha256 check cost.

With everything on loopback, every phase is bound by CPU: S3, server and
client share the machine's cores. So each phase also gets a ceiling: the
ratio to the direct baseline it would reach if all cores were busy with it
the whole time (its CPU seconds over all processes, divided by the number of
cores, is the least wall time it can take). A phase whose ceiling is below a
target cannot meet that target on this machine, however it is scheduled.

Every downloaded file is checked against the sha256 of the source (outside the
timed section). While a phase runs, a thread samples VmRSS of the server (and
of this process and a local S3 server) every 50 ms; the table shows the peak
of each phase. VmHWM (the kernel's own, monotonic, high-water mark) is read
after every phase and kept in the JSON output. Each phase also records the CPU
seconds of this process, the server and a local S3 server, and the CPU time
all other processes used meanwhile ("other CPU s"): with everything on
loopback the phases are CPU-bound, so anything else running skews them, and
that column says so.

The S3 endpoint is $REGISTRY_BENCH_S3_ENDPOINT (http://host:port, with
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) when set, else moto's standalone
server started here on a free loopback port. moto keeps objects in memory:
a 1 GiB run peaks at about 4.7 GiB there. The registry server runs as a
separate process (`python -m registry_server.cli serve`) on a free loopback
port, on a SQLite file in the temporary folder, or, when
$REGISTRY_BENCH_DATABASE_URL names a PostgreSQL database, on a throwaway
database created beside it (upgraded with `registry-server db upgrade` first,
dropped at the end). The temporary folder (twice the file size at peak), the
processes started here and the objects written are removed on exit, Ctrl-C and
SIGTERM included; the bucket (default registry-bench) is created if missing
and left in place.

    .venv/bin/python bench/artifact_transfer.py --size-mib 1024 --json bench.json

MB/s is 10^6 bytes per second; sizes are MiB (2^20 bytes).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO
from urllib.parse import urlsplit

import sqlalchemy as sa
from harness import free_port, server_process, throwaway_database, wait_for_port
from minio import Minio

from registry_api import wire
from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client import RegistryClient

MiB = 1024 * 1024
PART_SIZE = 16 * MiB  # the server's part size (registry_server.artifacts.s3.PART_SIZE)
SAMPLE_INTERVAL = 0.05
MOTO_KEYS = ("bench-access-key", "bench-secret-key")  # moto accepts any credentials

log = logging.getLogger("bench")


# -- processes --------------------------------------------------------------------------


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


# -- memory -----------------------------------------------------------------------------


def proc_status_kib(pid: int, field_name: str) -> int | None:
    """A ``/proc/<pid>/status`` field in KiB (VmRSS, VmHWM), None if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def other_processes_cpu(ours: set[int]) -> dict[int, float]:
    """CPU seconds of every user-space process but ``ours`` (kernel threads left out:
    their work, e.g. writeback and loopback networking, is mostly on our behalf)."""
    seconds: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[1] == "2" or entry.name == "2":  # kthreadd and its children
            continue
        seconds[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


class RssSampler:
    """Samples VmRSS of some processes every 50 ms; ``peaks()`` since the last ``reset()``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._lock = threading.Lock()
        self._peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with self._lock:
            for name, pid in self.pids.items():
                rss = proc_status_kib(pid, "VmRSS")
                if rss is not None and rss > self._peak.get(name, 0):
                    self._peak[name] = rss

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            self._sample()

    def reset(self) -> dict[str, float | None]:
        """Start a new phase; return the current VmRSS (MiB) of each process."""
        with self._lock:
            self._peak = {}
        now = {name: mib(proc_status_kib(pid, "VmRSS")) for name, pid in self.pids.items()}
        self._sample()
        return now

    def peaks(self) -> dict[str, float | None]:
        self._sample()
        with self._lock:
            return {name: mib(self._peak.get(name)) for name in self.pids}

    def hwm(self) -> dict[str, float | None]:
        return {name: mib(proc_status_kib(pid, "VmHWM")) for name, pid in self.pids.items()}


# -- files ------------------------------------------------------------------------------


def write_random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes in 4 MiB blocks; return their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# -- phases -----------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    kind: str  # "upload" | "download"
    mib: float
    seconds: float
    mb_per_s: float
    ratio_vs_direct: float | None = None
    # The best ratio_vs_direct the phase's CPU seconds allow on this
    # machine's cores (see the module docstring).
    ceiling_vs_direct: float | None = None
    runs_seconds: list[float] = field(default_factory=list)
    rss_before_mib: dict[str, float | None] = field(default_factory=dict)
    rss_peak_mib: dict[str, float | None] = field(default_factory=dict)
    vmhwm_after_mib: dict[str, float | None] = field(default_factory=dict)
    cpu_seconds: dict[str, float | None] = field(default_factory=dict)
    other_cpu_seconds: float | None = None
    note: str = ""


class FallbackDetector(logging.Handler):
    """Notices the client's "presigned download ... failed; streaming" warning."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.fell_back = False

    def emit(self, record: logging.LogRecord) -> None:
        if "presigned download" in record.getMessage():
            self.fell_back = True


def run_phase(
    sampler: RssSampler, name: str, kind: str, size: int, action: Callable[[], str]
) -> Phase:
    before = sampler.reset()
    cpu_before = {proc: cpu_seconds(pid) for proc, pid in sampler.pids.items()}
    ours = set(sampler.pids.values())
    others_before = other_processes_cpu(ours)
    start = time.perf_counter()
    note = action()
    seconds = time.perf_counter() - start
    others = other_processes_cpu(ours)
    foreign = sum(t - others_before.get(pid, 0.0) for pid, t in others.items())
    peaks = sampler.peaks()
    cpu: dict[str, float | None] = {}
    for proc, pid in sampler.pids.items():
        now, then = cpu_seconds(pid), cpu_before[proc]
        cpu[proc] = None if now is None or then is None else round(now - then, 2)
    phase = Phase(
        name=name,
        kind=kind,
        mib=round(size / MiB, 1),
        seconds=round(seconds, 3),
        mb_per_s=round(size / seconds / 1e6, 1),
        rss_before_mib=before,
        rss_peak_mib=peaks,
        vmhwm_after_mib=sampler.hwm(),
        cpu_seconds=cpu,
        # CPU used by other processes meanwhile: on a quiet machine close to
        # 0; more means the timings were disturbed.
        other_cpu_seconds=round(max(0.0, foreign), 2),
        note=note,
    )
    log.info(
        "%-20s %6.2f s  %7.1f MB/s  server RSS peak %s MiB",
        name,
        phase.seconds,
        phase.mb_per_s,
        peaks.get("server"),
    )
    return phase


def median_phase(runs: list[Phase]) -> Phase:
    """One row for several runs of a phase: median time and CPU seconds,
    the highest memory peaks, the last high-water marks."""
    first = runs[0]
    seconds = statistics.median(r.seconds for r in runs)
    cpu: dict[str, float | None] = {}
    for proc in first.cpu_seconds:
        values = [r.cpu_seconds.get(proc) for r in runs]
        known = [v for v in values if v is not None]
        cpu[proc] = round(statistics.median(known), 2) if len(known) == len(values) else None

    def highest(pick: Callable[[Phase], dict[str, float | None]]) -> dict[str, float | None]:
        return {
            proc: max((v for r in runs if (v := pick(r).get(proc)) is not None), default=None)
            for proc in pick(first)
        }

    others = [r.other_cpu_seconds for r in runs if r.other_cpu_seconds is not None]
    return Phase(
        name=first.name,
        kind=first.kind,
        mib=first.mib,
        seconds=round(seconds, 3),
        mb_per_s=round(first.mib * MiB / seconds / 1e6, 1),
        rss_before_mib=first.rss_before_mib,
        rss_peak_mib=highest(lambda r: r.rss_peak_mib),
        vmhwm_after_mib=runs[-1].vmhwm_after_mib,
        cpu_seconds=cpu,
        other_cpu_seconds=statistics.median(others) if others else None,
        note=first.note,
        runs_seconds=[r.seconds for r in runs],
    )


def set_ratios(phases: list[Phase], cores: int) -> None:
    """ratio_vs_direct and ceiling_vs_direct of every phase, against the
    direct phase of the same kind."""
    direct = {p.kind: p.seconds for p in phases if p.name.startswith("direct")}
    for p in phases:
        p.ratio_vs_direct = round(direct[p.kind] / p.seconds, 2)
        cpu = [c for c in p.cpu_seconds.values() if c is not None]
        if p.name.startswith("direct") or len(cpu) < len(p.cpu_seconds) or not sum(cpu):
            continue  # a baseline, or a process's CPU time unknown
        least_seconds = sum(cpu) / cores
        p.ceiling_vs_direct = round(direct[p.kind] / least_seconds, 2)


def print_table(phases: list[Phase], out: TextIO = sys.stdout) -> None:
    header = (
        f"{'phase':<20} {'MiB':>6} {'seconds':>8} {'MB/s':>8} {'vs direct':>9} {'ceiling':>7} "
        f"{'server peak RSS MiB':>19} {'bench peak RSS MiB':>18} "
        f"{'CPU s bench/server/s3':>21} {'other CPU s':>11}  note"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for p in phases:
        ratio = f"{p.ratio_vs_direct:.2f}x" if p.ratio_vs_direct is not None else "-"
        ceiling = f"{p.ceiling_vs_direct:.2f}x" if p.ceiling_vs_direct is not None else "-"
        server = p.rss_peak_mib.get("server")
        bench = p.rss_peak_mib.get("bench")
        cpu = "/".join(
            "-" if p.cpu_seconds.get(n) is None else f"{p.cpu_seconds[n]:.2f}"
            for n in ("bench", "server", "s3")
        )
        print(
            f"{p.name:<20} {p.mib:>6.0f} {p.seconds:>8.2f} {p.mb_per_s:>8.1f} {ratio:>9} "
            f"{ceiling:>7} "
            f"{server if server is not None else '-':>19} "
            f"{bench if bench is not None else '-':>18} {cpu:>21} "
            f"{p.other_cpu_seconds if p.other_cpu_seconds is not None else '-':>11}  {p.note}",
            file=out,
        )


# -- the run ----------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def benchmark(args: argparse.Namespace, work: Path, cleanups: list[Callable[[], None]]) -> dict:
    size = args.size_mib * MiB
    s3 = s3_from_env()
    moto_proc: subprocess.Popen[bytes] | None = None
    if s3 is None:
        port = free_port()
        moto_proc = spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            dict(os.environ, MOTO_PORT=str(port)),
            work / "moto.log",
        )
        cleanups.append(lambda: stop(moto_proc))
        try:
            wait_for_port("127.0.0.1", port, 60, process=moto_proc)
        except (RuntimeError, TimeoutError):
            print(tail(work / "moto.log"), file=sys.stderr)
            raise
        s3 = S3Target(f"127.0.0.1:{port}", False, *MOTO_KEYS, local=True)
    log.info("S3 endpoint: %s (%s)", s3.endpoint, "moto, local" if s3.local else "external")

    run_id = f"run-{uuid.uuid4().hex[:8]}"
    bucket = args.bucket
    minio = s3.client()
    if not minio.bucket_exists(bucket):
        minio.make_bucket(bucket)

    # The registry server, as its own process (tests/support/server_process.py, through
    # bench/harness.py, starts it on a free loopback port, waits until it is healthy and
    # stops it).
    stack = contextlib.ExitStack()
    cleanups.append(stack.close)  # the server stops before its database is dropped
    database_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", "").strip()
    if not database_url:
        database_url, database = f"sqlite:///{work / 'registry.db'}", "SQLite (temporary file)"
    elif database_url.startswith("sqlite"):
        database = "SQLite"
    else:
        database_url = stack.enter_context(throwaway_database(database_url))
        database = f"{sa.make_url(database_url).get_backend_name()} (throwaway database)"
    secure = "true" if s3.secure else "false"
    store = f"s3://{bucket}/{run_id}?endpoint={s3.endpoint}&secure={secure}"
    s3_env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
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
        server_process(database_url, store, workers=args.workers, log_level="INFO", env=s3_env)
    )
    listen = server.target
    log.info("registry server pid %d on %s, %s", server.pid, listen, database)

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

    def check_download(path: Path) -> None:
        got = sha256_of(path)
        if got != expected:
            raise RuntimeError(f"{path}: sha256 {got}, expected {expected}")
        path.unlink()

    pids = {"server": server.pid, "bench": os.getpid()}
    if moto_proc is not None:
        pids["s3"] = moto_proc.pid
    client = RegistryClient(listen, actor="bench", timeout=60.0)
    cleanups.append(client.close)
    model = f"bench-{uuid.uuid4().hex[:8]}"
    direct_key = f"{run_id}/direct/model.bin"
    cleanups.append(lambda: minio.remove_object(bucket, direct_key))
    phases: list[Phase] = []
    detector = FallbackDetector()
    logging.getLogger("registry_client").addHandler(detector)
    server_rss_start = mib(proc_status_kib(server.pid, "VmRSS"))

    load_before = os.getloadavg()
    with RssSampler(pids) as sampler:
        # Direct to S3: the baselines.
        def direct_upload() -> str:
            minio.fput_object(bucket, direct_key, str(src), part_size=PART_SIZE)
            return "minio fput_object, 16 MiB parts"

        def direct_download() -> str:
            minio.fget_object(bucket, direct_key, str(work / "direct.bin"))
            return "minio fget_object"

        # Through the registry.
        client.create_registered_model(model)
        cleanups.append(lambda: client.delete_registered_model(model))  # deletes its files
        version: list[int] = []

        def registry_upload() -> str:
            version.append(client.log_model_version(model, src_dir).version)
            return "log_model_version (hashes as it sends)"

        def registry_download(presigned: bool) -> Callable[[], str]:
            def run() -> str:
                detector.fell_back = False
                dst = work / ("presigned" if presigned else "streamed")
                client.download_artifacts(
                    f"models:/{model}/{version[0]}", dst, prefer_presigned=presigned
                )
                if presigned and detector.fell_back:
                    return "presigned URL FAILED, fell back to streaming"
                return "presigned URL from S3" if presigned else "streamed through the server"

            return run

        # The generated stub on the client's channel, with the client's
        # chunk decoder: the transport and nothing else.
        stream_call = client.channel.unary_stream(
            f"/{pb.DESCRIPTOR.services_by_name['ModelRegistry'].full_name}/DownloadArtifact",
            request_serializer=pb.DownloadArtifactRequest.SerializeToString,
            response_deserializer=wire.decode_download,
        )

        def stream_only() -> str:
            request = pb.DownloadArtifactRequest(name=model, version=version[0], path="model.bin")
            received = sum(
                len(piece.chunk) for piece in stream_call(request, metadata=client.metadata)
            )
            if received != size:
                raise RuntimeError(f"stream only: {received} bytes, expected {size}")
            return "DownloadArtifact, chunks discarded"

        # Uploads alternate too. Every registry upload makes a version; the
        # first is the one downloaded below, the others are deleted after
        # their measurement (moto keeps every object in memory).
        uploads: dict[str, list[Phase]] = {}
        for _ in range(args.rounds):
            for name, action in (
                ("direct upload", direct_upload),
                ("registry upload", registry_upload),
            ):
                uploads.setdefault(name, []).append(
                    run_phase(sampler, name, "upload", size, action)
                )
            if len(version) > 1:
                client.delete_model_version(model, version.pop())
        phases += [median_phase(runs) for runs in uploads.values()]
        presigns = client.get_artifact_download_urls(model, version[0]).supported
        if not presigns:
            log.info("the store does not presign: no presigned phase")

        downloads: dict[str, list[Phase]] = {}

        def measure(name: str, action: Callable[[], str], output: Path | None) -> None:
            downloads.setdefault(name, []).append(
                run_phase(sampler, name, "download", size, action)
            )
            if output is not None:
                check_download(output)

        for _ in range(args.rounds):
            measure("direct download", direct_download, work / "direct.bin")
            measure(
                "registry download",
                registry_download(False),
                work / "streamed" / "model.bin",
            )
            measure("stream only", stream_only, None)
            if presigns:
                measure(
                    "presigned download",
                    registry_download(True),
                    work / "presigned" / "model.bin",
                )
        phases += [median_phase(runs) for runs in downloads.values()]
        server_hwm = mib(proc_status_kib(server.pid, "VmHWM"))

    set_ratios(phases, os.cpu_count() or 1)
    return {
        "size_mib": args.size_mib,
        "download_rounds": args.rounds,
        "part_size_mib": PART_SIZE // MiB,
        "s3": {"endpoint": s3.endpoint, "moto": s3.local},
        "database": database,
        "server_workers": args.workers,
        "sha256_seconds": hash_seconds,
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
    print(
        f"\n{args.size_mib} MiB file, {result['machine']['cpus']} CPUs, S3: "
        f"{'moto (in memory, loopback)' if result['s3']['moto'] else result['s3']['endpoint']}, "
        f"metadata: {result['database']}; MB/s = 10^6 bytes/s; 1-min load average "
        f"{result['machine']['loadavg_1m_before']} before, "
        f"{result['machine']['loadavg_1m_after']} after"
    )
    print_table([Phase(**p) for p in result["phases"]])
    print(
        f"server RSS at start {result['server_rss_start_mib']} MiB, "
        f"VmHWM at the end {result['server_vmhwm_final_mib']} MiB; "
        f"sha256 of the whole file in one thread: {result['sha256_seconds']:.2f} s "
        "(the registry client pays it on upload and download, fget_object does not)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
