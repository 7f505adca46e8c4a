"""What Prometheus metrics cost: get-by-alias throughput with metrics off and on, side by side.

Two servers run at once on two throwaway databases of the same PostgreSQL, identical
but for the side port: one started without ``--http-listen`` (no metrics collected, no
interceptor), one with it (every call counted and timed, pool checkouts and the
alias lookup's statement timed). They take turns under the same load (bench/turns.py):
`--warmup` seconds, then `--seconds` timed, `--concurrency` callers from
`--client-processes` processes. It prints calls/s, p50/p99 and the server's CPU per call
per round, then the medians and the cost of metrics in per cent, and finally checks the
measured server's /metrics counted every call it answered.

    .venv/bin/python bench/metrics_cost.py                 # 3 rounds of 10 s, concurrency 16
    .venv/bin/python bench/metrics_cost.py --rounds 5 --json metrics_cost.json

$REGISTRY_BENCH_DATABASE_URL names an administrative database (default postgres on
127.0.0.1:5432); the two databases are created beside it and dropped afterwards.
Timings are printed, never judged.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import DEFAULT_ADMIN_URL, free_port, machine_info, write_json
from support.scrape import scrape, total
from turns import add_load_arguments, median, print_turns, seeded_servers, take_turns

MODEL = "bench-metrics"


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
    return total(
        scrape(http_port),
        "grpc_server_handled_total",
        grpc_method="GetModelVersionByAlias",
        grpc_code="OK",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser)
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
    with (
        tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        envs = {"off": {}, "on": {"REGISTRY_HTTP_LISTEN": f"127.0.0.1:{http_port}"}}
        servers = seeded_servers(stack, admin_url, Path(tmp), MODEL, args, envs)
        counted_before = counted_calls(http_port)
        results, rows = take_turns(servers, MODEL, args, "metrics")
        counted = counted_calls(http_port) - counted_before

    print_turns(results, rows, args, "metrics")
    off, on = median(results, "off", "ops_per_s"), median(results, "on", "ops_per_s")
    cost = (off - on) / off * 100 if off else 0.0
    cpu_cost = (
        (median(results, "on", "cpu_ms_per_call") - median(results, "off", "cpu_ms_per_call"))
        / median(results, "off", "cpu_ms_per_call")
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
