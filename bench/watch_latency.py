"""Cross-replica latency of watch streams, and the memory an idle watcher costs.

Two `registry-server serve` processes on one throwaway PostgreSQL database: alias
moves are committed through replica A while N watchers of the model are open on
replica B (N = 1, 100, 1000 by default). For every move and every watcher the
bench records the time from the moment A acknowledged the move (the commit is
done by then) to the event's arrival on that watcher, and prints p50/p99/max per
N. It also prints B's resident memory with no watchers and with N idle ones open,
and the difference per watcher.

The watchers run on grpc.aio in this process (one event loop, 50 streams per
connection, as separate jobs would each have their own): the figures include
this process's own scheduling, so they are an upper bound on the server's part.

    .venv/bin/python bench/watch_latency.py [--watchers 1,100,1000] [--moves 50] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc
import grpc.aio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_ADMIN_URL,
    machine_info,
    percentile,
    print_table,
    server_process,
    throwaway_database,
)

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import RegistryClient
from registry_server import migrate
from registry_server.store.database import make_engine

STREAMS_PER_CHANNEL = 50
MODEL = "watched"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run_cell(
    a_target: str, b_target: str, b_pid: int, watchers: int, moves: int, interval: float
) -> dict:
    # A connection per channel (grpcio shares one between channels to the
    # same target unless told not to), as separate jobs would each have.
    channels = [
        grpc.aio.insecure_channel(b_target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range((watchers + STREAMS_PER_CHANNEL - 1) // STREAMS_PER_CHANNEL)
    ]
    before_rss = rss_mib(b_pid)
    arrivals: dict[int, list[float]] = {}
    started = asyncio.Event()
    ready = 0

    async def watch(index: int) -> None:
        nonlocal ready
        stub = registry_pb2_grpc.ModelRegistryStub(channels[index // STREAMS_PER_CHANNEL])
        call = stub.WatchModelEvents(pb.WatchModelEventsRequest(name=MODEL, kinds=["alias_set"]))
        first = True
        try:
            async for response in call:
                if first:
                    first = False
                    ready += 1
                    if ready == watchers:
                        started.set()
                if response.HasField("event"):
                    arrivals.setdefault(response.event.event_id, []).append(time.perf_counter())
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise

    tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait([waiting, *tasks], timeout=120, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task.done() and task.exception() is not None:
            raise RuntimeError(f"a watcher failed: {task.exception()!r}")
    if not started.is_set():
        raise RuntimeError(f"only {ready} of {watchers} watchers started in 120 s")
    await asyncio.sleep(1.0)
    idle_rss = rss_mib(b_pid)
    acknowledged: dict[int, float] = {}
    with RegistryClient(a_target) as writer:
        for i in range(moves):
            version = 1 + i % 2
            writer.set_registered_model_alias(MODEL, "champion", version)
            acknowledged[i] = time.perf_counter()
            await asyncio.sleep(interval)
    # Until every watcher has every move (or 30 s).
    for _ in range(300):
        if sum(len(v) for v in arrivals.values()) >= moves * watchers:
            break
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    for channel in channels:
        await channel.close()
    # Event ids in order of the moves.
    ids = sorted(arrivals)
    latencies = []
    for i, event_id in enumerate(ids[:moves]):
        latencies += [max(0.0, (t - acknowledged[i]) * 1000) for t in arrivals[event_id]]
    expected = moves * watchers
    return {
        "watchers": watchers,
        "deliveries": len(latencies),
        "expected": expected,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies) if latencies else 0.0,
        "rss_before_mib": before_rss,
        "rss_idle_mib": idle_rss,
        "kib_per_watcher": (idle_rss - before_rss) * 1024 / watchers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--watchers", default="1,100,1000")
    parser.add_argument("--moves", type=int, default=50)
    parser.add_argument(
        "--interval", type=float, default=0.05, help="seconds between two alias moves"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.watchers.split(",")]
    print(machine_info())
    env = {
        "REGISTRY_WATCH_STREAMS_MAX": str(max(counts) + 16),
        "REGISTRY_WATCH_STREAMS_PER_PRINCIPAL": str(max(counts) + 16),
        "REGISTRY_STREAMS_PER_CONNECTION": str(STREAMS_PER_CHANNEL * 2),
    }
    with throwaway_database(args.admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        store = os.path.join(tmp, "artifacts")
        with server_process(url, store, env=env) as a, server_process(url, store, env=env) as b:
            with RegistryClient(a.target) as setup:
                setup.create_registered_model(MODEL)
                for _ in range(2):
                    setup.create_model_version(MODEL, source="s3://bucket/model")
            rows = []
            for watchers in counts:
                cell = asyncio.run(
                    run_cell(a.target, b.target, b.pid, watchers, args.moves, args.interval)
                )
                rows.append(
                    [
                        cell["watchers"],
                        f"{cell['deliveries']}/{cell['expected']}",
                        f"{cell['p50_ms']:.1f}",
                        f"{cell['p99_ms']:.1f}",
                        f"{cell['max_ms']:.1f}",
                        f"{cell['rss_before_mib']:.0f}",
                        f"{cell['rss_idle_mib']:.0f}",
                        f"{cell['kib_per_watcher']:.0f}",
                    ]
                )
            print_table(
                [
                    "watchers on B",
                    "delivered",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "B RSS before MiB",
                    "B RSS idle MiB",
                    "KiB/watcher",
                ],
                rows,
            )


if __name__ == "__main__":
    main()
