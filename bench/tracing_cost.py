"""What OpenTelemetry tracing costs: get-by-alias throughput with tracing off, on with
1% of calls sampled, and on with every call sampled, side by side.

Three servers run at once on three throwaway databases of the same PostgreSQL,
identical but for their OTEL_* environment: one without (tracing off: no interceptor,
no statement listener), two with ``OTEL_TRACES_EXPORTER=otlp`` and
``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` at 0.01 and 1.0. Their spans go over
OTLP/gRPC to a receiver in this process that counts them (what a collector on the
same host would take), so the cost includes building, batching and exporting spans.
The servers take turns under the same load (bench/turns.py): ``--warmup`` seconds, then
``--seconds`` timed, ``--concurrency`` callers from ``--client-processes`` processes
(the clients send no traceparent, so the ratio decides).

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
import os
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import DEFAULT_ADMIN_URL, machine_info, write_json
from turns import add_load_arguments, median, print_turns, seeded_servers, take_turns

MODEL = "bench-tracing"
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
    add_load_arguments(parser)
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
    spans: dict[str, int] = {}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-tracing-") as tmp,
            contextlib.ExitStack() as stack,
        ):
            envs = {label: tracing_env(label, receiver, args.exporter) for label in LABELS}
            servers = seeded_servers(stack, admin_url, Path(tmp), MODEL, args, envs)
            results, rows = take_turns(servers, MODEL, args, "tracing")
            time.sleep(6)  # the batch exporters send every 5 s
            spans = {label: receiver.spans.get(service_name(label), 0) for label in LABELS}
    finally:
        receiver.close()

    print_turns(results, rows, args, "tracing")
    off = median(results, "off", "ops_per_s")
    costs = {}
    for label in LABELS[1:]:
        costs[label] = (off - median(results, label, "ops_per_s")) / off * 100 if off else 0.0
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
