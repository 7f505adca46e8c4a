"""What Prometheus metrics cost: get-by-alias throughput with metrics off and on, side by side.

Two servers run at once on two throwaway databases of the same PostgreSQL, identical
but for the side port: one started without ``--http-listen`` (no metrics collected, no
interceptor), one with it (every call counted and timed, pool checkouts and the
alias lookup's statement timed). They take turns, round after round, so a machine
that gets busier or quieter during the run affects both alike; only one is loaded
at a time. Each round: `--warmup` seconds, then `--seconds` timed, every worker
calling GetModelVersionByAlias back to back on a connection of its own from
`--client-processes` spawned processes (one Python process driving 16 threads would
measure its own GIL). It prints calls/s, p50/p99 and the server's CPU per call
(all its processes, from /proc) per round, then the medians and the cost of metrics
in per cent, and finally checks the measured server's /metrics counted every call it
answered.

    .venv/bin/python bench/metrics_cost.py                 # 3 rounds of 10 s, concurrency 16
    .venv/bin/python bench/metrics_cost.py --rounds 5 --json metrics_cost.json

$REGISTRY_BENCH_DATABASE_URL names an administrative database (default postgres on
127.0.0.1:5432); the two databases are created beside it and dropped afterwards.
Timings are printed, never judged.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_ADMIN_URL,
    ServerProcess,
    cpu_delta,
    cpu_seconds,
    free_port,
    machine_info,
    percentile,
    print_table,
    process_tree,
    server_process,
    throwaway_database,
    write_json,
)

from registry_server import migrate
from registry_server.store.database import make_engine

MODEL = "bench-metrics"
ALIAS = "champion"


def _client(
    target: str, workers: int, times: multiprocessing.Queue, out: multiprocessing.Queue
) -> None:
    """One spawned client process: `workers` threads, a channel each. Once every channel
    is connected it says "ready", takes (start, begin, end) and calls from `start` until
    `end`; puts (calls completed in [begin, end], errors, latencies in seconds)."""
    import threading

    import grpc

    from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
    from registry_api.proto.modelregistry.v1 import registry_pb2_grpc

    request = pb.GetModelVersionByAliasRequest(name=MODEL, alias=ALIAS)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.insecure_channel(target, options=options) for _ in range(workers)]
    for channel in channels:
        grpc.channel_ready_future(channel).result(timeout=60)
    out.put("ready")
    start, begin, end = times.get(timeout=300)

    def work(channel: grpc.Channel) -> None:
        own: list[float] = []
        failed = 0
        time.sleep(max(0.0, start - time.monotonic()))
        with channel:
            call = registry_pb2_grpc.ModelRegistryStub(channel).GetModelVersionByAlias
            while True:
                t0 = time.monotonic()
                if t0 >= end:
                    break
                try:
                    call(request, timeout=30)
                except grpc.RpcError:
                    failed += 1
                    continue
                t1 = time.monotonic()
                if t0 >= begin and t1 <= end:
                    own.append(t1 - t0)
        with lock:
            latencies.extend(own)
            errors[0] += failed

    threads = [threading.Thread(target=work, args=(channel,)) for channel in channels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((len(latencies), errors[0], latencies))


def run_round(
    server: ServerProcess, concurrency: int, processes: int, warmup: float, seconds: float
) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = context.Queue()
    shares = [len(range(concurrency)[i::processes]) for i in range(min(processes, concurrency))]
    times = [context.Queue() for _ in shares]
    clients = [
        context.Process(target=_client, args=(server.target, n, q, out), daemon=True)
        for n, q in zip(shares, times, strict=True)
    ]
    for client in clients:
        client.start()
    for _ in clients:
        assert out.get(timeout=120) == "ready"
    start = time.monotonic() + 0.2
    begin, end = start + warmup, start + warmup + seconds
    for q in times:
        q.put((start, begin, end))
    time.sleep(max(0.0, begin - time.monotonic()))
    pids = process_tree(server.pid)
    before = cpu_seconds(pids)
    time.sleep(max(0.0, end - time.monotonic()))
    used = cpu_delta(before, cpu_seconds(pids))
    calls, errors, latencies = 0, 0, []
    for _ in clients:
        n, e, lat = out.get(timeout=120)
        calls, errors = calls + n, errors + e
        latencies.extend(lat)
    for client in clients:
        client.join(timeout=30)
    return {
        "ops_per_s": calls / seconds,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else 0.0,
        "cpu_ms_per_call": used / calls * 1000 if calls else 0.0,
        "errors": errors,
    }


@contextlib.contextmanager
def bench_server(
    admin_url: str, folder: Path, *, processes: int, workers: int, http_port: int | None
) -> Iterator[ServerProcess]:
    """A server on its own throwaway database, seeded with one version under @champion."""
    from registry_client import RegistryClient

    with throwaway_database(admin_url) as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        env = {"REGISTRY_HTTP_LISTEN": f"127.0.0.1:{http_port}"} if http_port else {}
        with server_process(
            url,
            str(folder / "artifacts"),
            workers=workers,
            processes=processes,
            log_level="INFO",
            env=env,
        ) as server:
            with RegistryClient(server.target) as client:
                client.create_registered_model(MODEL)
                client.create_model_version(MODEL, source="s3://bench/model")
                client.set_registered_model_alias(MODEL, ALIAS, 1)
            yield server


def per_call_overhead(calls: int = 200_000) -> dict[str, float]:
    """CPU microseconds the metrics add to one get-by-alias, measured in this process on
    one thread (thread CPU time, so other load on the machine does not count): a unary
    handler that does nothing, bare and wrapped by the metrics interceptor, plus the two
    timings a get-by-alias takes inside the server (the pool checkout's wait, the alias
    lookup's statement)."""
    import grpc

    from registry_server import metrics
    from registry_server.api.metrics import MetricsInterceptor

    class Context:
        def code(self) -> None:
            return None

        def is_active(self) -> bool:
            return True

    def bare(request: object, context: object) -> object:
        return request

    handler = grpc.unary_unary_rpc_method_handler(bare)
    path = "/modelregistry.v1.ModelRegistry/GetModelVersionByAlias"
    wrapped = MetricsInterceptor().wrap(path, handler).unary_unary
    wait = metrics.pool_wait_observer("read")
    statement = metrics.statement_observer("version_by_alias")
    context = Context()

    def timed(call: object) -> float:
        begin = time.thread_time()
        for _ in range(calls):
            call(None, context)  # type: ignore[operator]
        return (time.thread_time() - begin) / calls * 1e6

    def inside(request: object, ctx: object) -> object:
        t0 = time.perf_counter()
        wait(time.perf_counter() - t0)
        t1 = time.perf_counter()
        statement(time.perf_counter() - t1)
        return request

    timed(bare), timed(wrapped)  # warm up
    base = timed(bare)
    interceptor = timed(wrapped) - base
    timings = timed(inside) - base
    return {"interceptor_us": interceptor, "timings_us": timings, "total_us": interceptor + timings}


def counted_calls(http_port: int) -> float:
    """GetModelVersionByAlias calls answered OK, as the measured server's /metrics says."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "grpc_server_handled_total"
        and sample.labels.get("grpc_method") == "GetModelVersionByAlias"
        and sample.labels.get("grpc_code") == "OK"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="turns of each server (default 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per turn")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds per turn")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight (16)")
    parser.add_argument("--client-processes", type=int, default=4, help="load processes (4)")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="server processes (cores)"
    )
    parser.add_argument("--workers", type=int, default=8, help="server --workers (8)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    admin_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)

    overhead = per_call_overhead()
    print(
        f"metrics code per get-by-alias, in isolation: {overhead['total_us']:.1f} us of CPU "
        f"(interceptor {overhead['interceptor_us']:.1f} us, pool wait and statement timings "
        f"{overhead['timings_us']:.1f} us)"
    )
    http_port = free_port()
    rows: list[list[object]] = []
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        servers = {
            "off": stack.enter_context(
                bench_server(
                    admin_url,
                    Path(tmp) / "off",
                    processes=args.processes,
                    workers=args.workers,
                    http_port=None,
                )
            ),
            "on": stack.enter_context(
                bench_server(
                    admin_url,
                    Path(tmp) / "on",
                    processes=args.processes,
                    workers=args.workers,
                    http_port=http_port,
                )
            ),
        }
        counted_before = counted_calls(http_port)
        for round_ in range(1, args.rounds + 1):
            # Alternate which goes first, so neither always follows the other's load.
            order = ("off", "on") if round_ % 2 else ("on", "off")
            for label in order:
                got = run_round(
                    servers[label],
                    args.concurrency,
                    args.client_processes,
                    args.warmup,
                    args.seconds,
                )
                results[label].append(got)
                rows.append(
                    [
                        f"round {round_}, metrics {label}",
                        got["ops_per_s"],
                        got["p50_ms"],
                        got["p99_ms"],
                        got["cpu_ms_per_call"],
                        int(got["errors"]),
                    ]
                )
        counted = counted_calls(http_port) - counted_before

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in results[label])

    for label in ("off", "on"):
        rows.append(
            [
                f"median, metrics {label}",
                median(label, "ops_per_s"),
                median(label, "p50_ms"),
                median(label, "p99_ms"),
                median(label, "cpu_ms_per_call"),
                "",
            ]
        )
    print(
        f"get-by-alias at concurrency {args.concurrency}, {args.processes} server processes "
        f"x {args.workers} workers, {args.client_processes} client processes, "
        f"{args.rounds} rounds of {args.warmup:g} + {args.seconds:g} s"
    )
    print_table(["run", "calls/s", "p50 ms", "p99 ms", "server CPU ms/call", "errors"], rows)
    off, on = median("off", "ops_per_s"), median("on", "ops_per_s")
    cost = (off - on) / off * 100 if off else 0.0
    cpu_cost = (
        (median("on", "cpu_ms_per_call") - median("off", "cpu_ms_per_call"))
        / median("off", "cpu_ms_per_call")
        * 100
    )
    print(
        f"metrics on against off (medians): calls/s {-cost:+.1f}%, "
        f"server CPU per call {cpu_cost:+.1f}%"
    )
    print(f"/metrics counted {counted:,.0f} GetModelVersionByAlias calls (warm-ups included)")
    write_json(
        args.json,
        {
            "machine": machine_info(),
            "arguments": vars(args),
            "results": results,
            "throughput_cost_percent": cost,
            "cpu_cost_percent": cpu_cost,
            "counted_calls": counted,
            "per_call_overhead": overhead,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
