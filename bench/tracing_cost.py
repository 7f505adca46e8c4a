"""What OpenTelemetry tracing costs: get-by-alias throughput with tracing off, on with
1% of calls sampled, and on with every call sampled, side by side.

Three servers run at once on three throwaway databases of the same PostgreSQL,
identical but for their OTEL_* environment: one without (tracing off: no interceptor,
no statement listener), two with ``OTEL_TRACES_EXPORTER=otlp`` and
``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` at 0.01 and 1.0. Their spans go over
OTLP/gRPC to a receiver in this process that counts them (what a collector on the
same host would take), so the cost includes building, batching and exporting spans.
The servers take turns, round after round, only one loaded at a time. Each round:
``--warmup`` seconds, then ``--seconds`` timed, ``--concurrency`` workers calling
GetModelVersionByAlias back to back on a connection each, from ``--client-processes``
spawned processes (the clients send no traceparent, so the ratio decides).

Also printed: what the code that runs with tracing off adds per call in isolation
(the drain gate's count, the call's principal slot; the client's check for an open
span).

    .venv/bin/python bench/tracing_cost.py                 # 3 rounds of 10 s, concurrency 16
    .venv/bin/python bench/tracing_cost.py --rounds 5 --json tracing_cost.json

$REGISTRY_BENCH_DATABASE_URL names an administrative database (default postgres on
127.0.0.1:5432); the databases are created beside it and dropped afterwards.
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
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent import futures
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_ADMIN_URL,
    ServerProcess,
    cpu_delta,
    cpu_seconds,
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

MODEL = "bench-tracing"
ALIAS = "champion"
LABELS = ("off", "sampled 1%", "sampled 100%")
RATIOS = {"sampled 1%": "0.01", "sampled 100%": "1.0"}


class SpanReceiver:
    """An OTLP/gRPC trace receiver that counts the spans it is sent, per service."""

    def __init__(self) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as rpc

        self.spans: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Service(rpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                receiver.count(request)
                return pb.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        rpc.add_TraceServiceServicer_to_server(Service(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

        self._http = _http_receiver(self)
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def count(self, request: Any) -> None:
        """Add the spans of one ExportTraceServiceRequest to their services' counts."""
        for resource in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            count = sum(len(scope.spans) for scope in resource.scope_spans)
            with self._lock:
                self.spans[service] = self.spans.get(service, 0) + count

    def close(self) -> None:
        self.server.stop(0)
        self._http.shutdown()


def _http_receiver(receiver: SpanReceiver) -> Any:
    """OTLP over HTTP (POST /v1/traces, protobuf) for the same counts."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = pb.ExportTraceServiceRequest()
            request.ParseFromString(body)
            receiver.count(request)
            reply = pb.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _client(
    target: str, workers: int, times: multiprocessing.Queue, out: multiprocessing.Queue
) -> None:
    """One spawned client process: `workers` threads, a channel each; calls from `start`
    until `end`; puts (calls completed in [begin, end], errors, latencies in seconds)."""
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
    admin_url: str, folder: Path, *, processes: int, workers: int, env: Mapping[str, str]
) -> Iterator[ServerProcess]:
    """A server on its own throwaway database, seeded with one version under @champion."""
    from registry_client import RegistryClient

    with throwaway_database(admin_url) as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
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


def tracing_env(label: str, receiver: SpanReceiver, exporter: str = "otlp") -> dict[str, str]:
    if label == "off":
        return {}
    http = exporter == "otlp-http"
    return {
        "OTEL_TRACES_EXPORTER": "otlp" if http else exporter,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf" if http else "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:"
        + str(receiver.http_port if http else receiver.port),
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": RATIOS[label],
        "OTEL_SERVICE_NAME": service_name(label),
    }


def service_name(label: str) -> str:
    return "bench-" + label.replace(" ", "-").replace("%", "pct")


def off_path_overhead(calls: int = 200_000) -> dict[str, float]:
    """CPU microseconds per call, on one thread, of what runs whether tracing is on or
    not: the drain gate around a unary handler that does nothing (against the bare
    handler), and the client's look for an open span (no OpenTelemetry span open)."""
    import grpc

    from registry_client._transport import _trace_context
    from registry_server.api.drain import DrainGate
    from registry_server.lifecycle import ServingState

    def bare(request: object, context: object) -> object:
        return request

    handler = grpc.unary_unary_rpc_method_handler(bare)
    gated = DrainGate(ServingState()).wrap("/x/y", handler).unary_unary

    def timed(call: Any) -> float:
        begin = time.thread_time()
        for _ in range(calls):
            call(None, None)
        return (time.thread_time() - begin) / calls * 1e6

    def client(_request: object, _context: object) -> object:
        return _trace_context()

    timed(bare), timed(gated), timed(client)  # warm up
    base = timed(bare)
    return {"drain_gate_us": timed(gated) - base, "client_span_check_us": timed(client) - base}


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
    parser.add_argument(
        "--exporter",
        choices=("otlp", "otlp-http", "console"),
        default="otlp",
        help="otlp (default: OTLP/gRPC to the receiver here), otlp-http (OTLP over HTTP "
        "to it) or console (spans to the servers' logs)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    admin_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)

    overhead = off_path_overhead()
    print(
        f"always-on code per call, in isolation: drain gate {overhead['drain_gate_us']:.2f} us, "
        f"client's open-span check {overhead['client_span_check_us']:.2f} us of CPU"
    )
    receiver = SpanReceiver()
    rows: list[list[object]] = []
    results: dict[str, list[dict[str, float]]] = {label: [] for label in LABELS}
    spans: dict[str, int] = {}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-tracing-") as tmp,
            contextlib.ExitStack() as stack,
        ):
            servers = {
                label: stack.enter_context(
                    bench_server(
                        admin_url,
                        Path(tmp) / f"s{i}",
                        processes=args.processes,
                        workers=args.workers,
                        env=tracing_env(label, receiver, args.exporter),
                    )
                )
                for i, label in enumerate(LABELS)
            }
            for round_ in range(1, args.rounds + 1):
                # Rotate which goes first, so none always follows another's load.
                shift = (round_ - 1) % len(LABELS)
                for label in LABELS[shift:] + LABELS[:shift]:
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
                            f"round {round_}, tracing {label}",
                            got["ops_per_s"],
                            got["p50_ms"],
                            got["p99_ms"],
                            got["cpu_ms_per_call"],
                            int(got["errors"]),
                        ]
                    )
            time.sleep(6)  # the batch exporters send every 5 s
            spans = {label: receiver.spans.get(service_name(label), 0) for label in LABELS}
    finally:
        receiver.close()

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in results[label])

    for label in LABELS:
        rows.append(
            [
                f"median, tracing {label}",
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
    off = median("off", "ops_per_s")
    costs = {}
    for label in LABELS[1:]:
        costs[label] = (off - median(label, "ops_per_s")) / off * 100 if off else 0.0
        print(
            f"tracing {label}: {costs[label]:+.1f}% fewer calls/s; "
            f"{spans[label]:,} spans received (warm-ups included; the exporter drops "
            "what its queue cannot hold)"
        )
    print(f"tracing off: {spans['off']:,} spans received")
    others = sum(receiver.spans.values()) - sum(spans.values())
    print(f"spans from services not measured here: {others}")
    write_json(
        args.json,
        {
            "machine": machine_info(),
            "arguments": vars(args),
            "results": results,
            "throughput_cost_percent": costs,
            "spans_received": spans,
            "off_path_overhead": overhead,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
