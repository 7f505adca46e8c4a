"""Servers taking turns under one get-by-alias load, for the benchmarks that compare a
server with a feature off against the same server with it on (bench/metrics_cost.py,
bench/tracing_cost.py).

Every server runs at once on a throwaway database of its own, seeded with one version
under @champion, and they take turns, round after round, so a machine that gets busier or
quieter during the run affects them alike; only one is loaded at a time, and the one that
goes first rotates. Each turn: `--warmup` seconds, then `--seconds` timed, every worker
calling GetModelVersionByAlias back to back on a connection of its own from
`--client-processes` spawned processes (one Python process driving 16 threads would
measure its own GIL). A turn's figures: calls/s, p50/p99 and the server's CPU per call (all
its processes, from /proc).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from harness import (
    ServerProcess,
    cpu_delta,
    cpu_seconds,
    percentile,
    print_table,
    process_tree,
    server_process,
    throwaway_database,
)

from registry_server import migrate
from registry_server.store.database import make_engine

ALIAS = "champion"

#: One turn's figures: ops_per_s, p50_ms, p99_ms, cpu_ms_per_call, errors.
Figures = dict[str, float]

HEADERS = ["run", "calls/s", "p50 ms", "p99 ms", "server CPU ms/call", "errors"]


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every turn-taking benchmark has: rounds, timing, load and server size."""
    parser.add_argument("--rounds", type=int, default=3, help="turns of each server (default 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per turn")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds per turn")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight (16)")
    parser.add_argument("--client-processes", type=int, default=4, help="load processes (4)")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="server processes (cores)"
    )
    parser.add_argument("--workers", type=int, default=8, help="server --workers (8)")


def _client(
    target: str,
    model: str,
    workers: int,
    times: multiprocessing.Queue,
    out: multiprocessing.Queue,
) -> None:
    """One spawned client process: `workers` threads, a channel each. Once every channel
    is connected it says "ready", takes (start, begin, end) and calls from `start` until
    `end`; puts (calls completed in [begin, end], errors, latencies in seconds)."""
    import threading

    import grpc

    from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
    from registry_api.proto.modelregistry.v1 import registry_pb2_grpc

    request = pb.GetModelVersionByAliasRequest(name=model, alias=ALIAS)
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


def run_turn(
    server: ServerProcess,
    model: str,
    concurrency: int,
    processes: int,
    warmup: float,
    seconds: float,
) -> Figures:
    """One server's turn: `concurrency` callers from `processes` client processes."""
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = context.Queue()
    shares = [len(range(concurrency)[i::processes]) for i in range(min(processes, concurrency))]
    times = [context.Queue() for _ in shares]
    clients = [
        context.Process(target=_client, args=(server.target, model, n, q, out), daemon=True)
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
def seeded_server(
    admin_url: str,
    folder: Path,
    model: str,
    *,
    processes: int,
    workers: int,
    env: Mapping[str, str],
) -> Iterator[ServerProcess]:
    """A server on its own throwaway database, seeded with one version of `model` under
    @champion."""
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
                client.create_registered_model(model)
                client.create_model_version(model, source="s3://bench/model")
                client.set_registered_model_alias(model, ALIAS, 1)
            yield server


def seeded_servers(
    stack: contextlib.ExitStack,
    admin_url: str,
    folder: Path,
    model: str,
    args: argparse.Namespace,
    envs: Mapping[str, Mapping[str, str]],
) -> dict[str, ServerProcess]:
    """A seeded server per label of `envs`, with that environment, each in a folder of its
    own below `folder`; `stack` stops them and drops their databases."""
    return {
        label: stack.enter_context(
            seeded_server(
                admin_url,
                folder / f"s{i}",
                model,
                processes=args.processes,
                workers=args.workers,
                env=env,
            )
        )
        for i, (label, env) in enumerate(envs.items())
    }


def take_turns(
    servers: Mapping[str, ServerProcess], model: str, args: argparse.Namespace, what: str
) -> tuple[dict[str, list[Figures]], list[list[object]]]:
    """`args.rounds` rounds of a turn per server (in the order of `servers`, rotated by one
    each round, so none always follows another's load). Returns each label's figures per
    round and the table rows "round N, <what> <label>"."""
    labels = list(servers)
    results: dict[str, list[Figures]] = {label: [] for label in labels}
    rows: list[list[object]] = []
    for round_ in range(1, args.rounds + 1):
        shift = (round_ - 1) % len(labels)
        for label in labels[shift:] + labels[:shift]:
            got = run_turn(
                servers[label],
                model,
                args.concurrency,
                args.client_processes,
                args.warmup,
                args.seconds,
            )
            results[label].append(got)
            rows.append(
                [
                    f"round {round_}, {what} {label}",
                    got["ops_per_s"],
                    got["p50_ms"],
                    got["p99_ms"],
                    got["cpu_ms_per_call"],
                    int(got["errors"]),
                ]
            )
    return results, rows


def median(results: Mapping[str, Sequence[Figures]], label: str, key: str) -> float:
    return statistics.median(r[key] for r in results[label])


def print_turns(
    results: Mapping[str, Sequence[Figures]],
    rows: list[list[object]],
    args: argparse.Namespace,
    what: str,
) -> None:
    """The rounds' rows, each label's medians, under a line saying what was run."""
    for label in results:
        rows.append(
            [
                f"median, {what} {label}",
                median(results, label, "ops_per_s"),
                median(results, label, "p50_ms"),
                median(results, label, "p99_ms"),
                median(results, label, "cpu_ms_per_call"),
                "",
            ]
        )
    print(
        f"get-by-alias at concurrency {args.concurrency}, {args.processes} server processes "
        f"x {args.workers} workers, {args.client_processes} client processes, "
        f"{args.rounds} rounds of {args.warmup:g} + {args.seconds:g} s"
    )
    print_table(HEADERS, rows)
