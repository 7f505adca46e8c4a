"""What a phase costs besides its wall time: VmRSS sampled every 50 ms, VmHWM after it, and
the CPU seconds of our processes and of every other process meanwhile (Linux /proc).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from harness import cpu_seconds

from .stats import MiB, Phase

SAMPLE_INTERVAL = 0.05

log = logging.getLogger("bench")


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


def run_phase(
    sampler: RssSampler, name: str, kind: str, size: int, action: Callable[[], str]
) -> Phase:
    """Run `action` once, timed, and return its figures; `action` returns the row's note."""
    before = sampler.reset()
    cpu_before = cpu_seconds(list(sampler.pids.values()))
    ours = set(sampler.pids.values())
    others_before = other_processes_cpu(ours)
    start = time.perf_counter()
    note = action()
    seconds = time.perf_counter() - start
    others = other_processes_cpu(ours)
    foreign = sum(t - others_before.get(pid, 0.0) for pid, t in others.items())
    peaks = sampler.peaks()
    cpu_after = cpu_seconds(list(sampler.pids.values()))
    cpu: dict[str, float | None] = {}
    for proc, pid in sampler.pids.items():
        now, then = cpu_after.get(pid), cpu_before.get(pid)
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
