"""Keeps the server's memory near what it needs now, not what a burst needed.

Measured (tests/test_memory_bound.py, docs/operations.md): one server process
on PostgreSQL went from 89 MB to 700 MB RSS after bursts of requests just
under the 16 MiB message limit (refused by validation), oversized requests
and parallel uploads, and stayed there once idle. Nothing of ours held the
memory: glibc's malloc did. Two of its habits, with 16+ threads:

* each thread that allocates under contention gets an arena of its own (up to
  8 per core), and an arena keeps what was freed in it for reuse;
* a freed allocation larger than the mmap threshold raises that threshold to
  its size (up to 32 MiB), so after one 15 MiB message the next ones come
  from the arenas instead of being mapped and unmapped, and stay there.

So at start, unless the operator set glibc's own variables
(MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_), the server allows two arenas and
fixes the mmap threshold at 1 MiB (fixing it also stops its growth):
messages and buffers of a MiB or more go back to the system when freed. A
thread then gives what stays free at the arenas' ends back every
``trim_interval`` seconds (malloc_trim; REGISTRY_MALLOC_TRIM_INTERVAL, 0 for
never), which costs a few milliseconds. Upload chunks are 1 MiB, so each is
mapped and unmapped: no measurable cost at the upload rates measured.

On a C library without these calls (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

ARENAS = 2
MMAP_THRESHOLD = 1 << 20

_started = threading.Lock()
_trimmer: threading.Thread | None = None


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


def bound_malloc(trim_interval: float) -> bool:
    """Apply the settings above to this process (once; later calls do
    nothing); False where the C library is not glibc."""
    global _trimmer
    libc = _glibc()
    if libc is None:
        return False
    with _started:
        if _trimmer is not None:
            return True
        if "MALLOC_ARENA_MAX" not in os.environ:
            libc.mallopt(_M_ARENA_MAX, ARENAS)
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        _trimmer = threading.Thread(
            target=_trim_every, args=(libc, trim_interval), name="malloc-trim", daemon=True
        )
        if trim_interval > 0:
            _trimmer.start()
    return True


def _trim_every(libc: ctypes.CDLL, interval: float) -> None:
    stop = threading.Event()  # never set: the thread ends with the process
    while not stop.wait(interval):
        try:
            libc.malloc_trim(0)
        except Exception:  # pragma: no cover - a C call that cannot fail
            log.debug("malloc_trim failed", exc_info=True)
            return
