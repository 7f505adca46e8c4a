"""The server's threads: a few for reads, the rest for calls that may wait.

grpcio's synchronous server hands every call to one executor. With a single
pool of 16 threads, the reads that make up most of the traffic (get by alias,
resolve, searches) each went to a thread that had to be woken: at 16 calls in
flight, strace counted 85 futex calls per get-by-alias (wake-ups and GIL
hand-offs between threads of which only one runs Python at a time). With 4
threads the same load ran at 1,890-1,960 calls/s and 0.47 ms of server CPU per
call, against 1,190-1,640/s and 0.57-0.73 ms with 16 (one process, alternating
runs): a busy small pool takes the next call from its queue without sleeping.

A small pool is wrong for calls that hold their thread while waiting:
uploads and downloads for as long as the transfer lasts, writes queued on a
model's lock, deletions that talk to the artifact store. Four of those would
stall every read. So only reads, which take no locks and answer from one or a
few indexed queries, run on the read pool (`read_threads`); everything else
runs on the server's executor (`workers` threads), as before.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

from registry_api.rpcs import RPCS
from registry_server.api.interceptors import CachingInterceptor

# Unary calls that only read the metadata database: no locks, no artifact
# store, no waiting on other calls. Marked `read_pool` in the .proto's
# rpc_policy (registry_api/rpcs.py), next to the RPC's other facts.
READ_METHODS = frozenset(name for name, facts in RPCS.items() if facts.read_pool)


class ReadPool(CachingInterceptor):
    """Runs the read methods' handlers on a pool of their own.

    grpcio runs a handler on the executor given in its function's
    `experimental_thread_pool` attribute, when it has one; other handlers run
    on the server's executor. Outermost, so the function grpcio receives is
    the one carrying the attribute.
    """

    def __init__(self, threads: int) -> None:
        super().__init__()
        self.pool = futures.ThreadPoolExecutor(threads, thread_name_prefix="read")
        self._read_paths = frozenset(RPCS[name].full_method for name in READ_METHODS)

    def wrap(self, method: str, handler: Any) -> Any:
        if method not in self._read_paths or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary

        def on_read_pool(request: Any, context: Any) -> Any:
            return behavior(request, context)

        on_read_pool.experimental_thread_pool = self.pool  # type: ignore[attr-defined]
        return handler._replace(unary_unary=on_read_pool)
