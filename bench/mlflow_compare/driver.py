"""The load driver: spawned client processes, each running worker threads with a
connection of their own, that call one operation back to back in a window all workers
share, and a cell run from the parent.

Load comes from several processes because one Python process driving 16 threads would
measure its own GIL; connections are opened before any timing and kept alive for the whole
run, so no cell pays for connecting.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess

from .apis import CALL_TIMEOUT, RegistryApi, System, SystemTarget, describe_error
from .stats import MAX_MESSAGES, CellPart, CellResult, CpuMeter, cell_result
from .workloads import Fixtures, create_fixtures, op_call


@dataclass(frozen=True)
class RunCommand:
    """Run `op` against `system` from every worker: from `start_at` (warm-up) until `end`,
    timing calls that complete in [begin, end]. The times are `time.monotonic()` values,
    which on Linux share one clock across processes, so all workers start together."""

    system: str
    op: str
    concurrency: int
    total_workers: int
    fixtures: Fixtures
    start_at: float
    begin: float
    end: float


@dataclass(frozen=True)
class SeedCommand:
    """Create these ("model" | "version", name) fixtures, spread over the workers."""

    system: str
    tasks: tuple[tuple[str, str], ...]
    fixtures: Fixtures
    total_workers: int


def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def drive(call: Callable[[int], object], cmd: RunCommand) -> CellPart:
    """Call back to back from `start_at` until `end`; sort each call by when it completed."""
    part = CellPart()
    sleep_until(cmd.start_at)
    n = 0
    while True:
        started = time.monotonic()
        if started >= cmd.end:
            return part
        error: str | None = None
        try:
            call(n)
        except Exception as exc:
            error = describe_error(exc)
        finished = time.monotonic()
        n += 1
        if error is None:
            part.acknowledged += 1
        elif error in part.messages or len(part.messages) < MAX_MESSAGES:
            part.messages[error] += 1
        failed = int(error is not None)
        if finished < cmd.begin:
            part.warmup_calls += 1
            part.warmup_errors += failed
        elif finished <= cmd.end:
            part.latencies.append(finished - started)
            part.errors += failed
        else:
            part.late_calls += 1
            part.late_errors += failed


def _run_job(api: RegistryApi, cmd: RunCommand, worker: int) -> CellPart:
    call = op_call(
        api,
        cmd.op,
        cmd.fixtures,
        concurrency=cmd.concurrency,
        total_workers=cmd.total_workers,
        worker=worker,
    )
    return drive(call, cmd)


def _in_threads(jobs: Sequence[Callable[[], CellPart]]) -> CellPart:
    """Run each job in its own thread and merge what they measured."""
    parts: list[CellPart | BaseException] = [CellPart() for _ in jobs]

    def run(index: int) -> None:
        try:
            parts[index] = jobs[index]()
        except BaseException as exc:
            parts[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = CellPart()
    for part in parts:
        if isinstance(part, BaseException):
            raise part
        merged.add(part)
    return merged


def client_process(
    index: int,
    workers: Sequence[int],
    targets: Sequence[SystemTarget],
    commands: multiprocessing.Queue[RunCommand | SeedCommand | None],
    results: multiprocessing.Queue[tuple[str, int, object]],
) -> None:
    """Body of one load-generating process: one connection per (worker, system), opened
    now and kept for the whole run, then commands until None."""
    # The parent owns Ctrl-C: it tells these processes to stop, or terminates them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    apis: dict[int, dict[str, RegistryApi]] = {}
    try:
        for worker in workers:
            apis[worker] = {t.label: t.connect(f"bench-w{worker}") for t in targets}
            for api in apis[worker].values():
                api.ping()
        results.put(("ready", index, None))
        while (cmd := commands.get()) is not None:
            if isinstance(cmd, RunCommand):
                jobs = [functools.partial(_run_job, apis[w][cmd.system], cmd, w) for w in workers]
                results.put(("run", index, _in_threads(jobs)))
            else:
                jobs = [
                    functools.partial(
                        create_fixtures,
                        apis[w][cmd.system],
                        cmd.tasks[w :: cmd.total_workers],
                        cmd.fixtures,
                    )
                    for w in workers
                ]
                results.put(("seed", index, _in_threads(jobs)))
    except Exception:
        results.put(("failed", index, traceback.format_exc()))
    finally:
        for per_system in apis.values():
            for api in per_system.values():
                with contextlib.suppress(Exception):
                    api.close()


class ClientPool:
    """`processes` spawned processes holding `concurrency` workers between them.

    Spawned, not forked: gRPC's threads and channels do not survive a fork. The processes
    live for the whole run so connections stay warm between cells.
    """

    def __init__(self, concurrency: int, processes: int, targets: Sequence[SystemTarget]) -> None:
        self.concurrency = concurrency
        context = multiprocessing.get_context("spawn")
        self._results: multiprocessing.Queue[tuple[str, int, object]] = context.Queue()
        self._commands: list[multiprocessing.Queue[RunCommand | SeedCommand | None]] = []
        self._processes: list[SpawnProcess] = []
        per_process = [
            list(range(concurrency))[i::processes] for i in range(min(processes, concurrency))
        ]
        for index, workers in enumerate(per_process):
            commands: multiprocessing.Queue[RunCommand | SeedCommand | None] = context.Queue()
            process = context.Process(
                target=client_process,
                args=(index, workers, list(targets), commands, self._results),
                name=f"bench-client-c{concurrency}-{index}",
                daemon=True,
            )
            process.start()
            self._commands.append(commands)
            self._processes.append(process)
        try:
            self._collect("ready", time.monotonic() + 180)
        except BaseException:
            self.close()
            raise

    @property
    def processes(self) -> int:
        return len(self._processes)

    def _collect(self, kind: str, deadline: float) -> list[CellPart]:
        parts: list[CellPart] = []
        while len(parts) < len(self._processes):
            try:
                got, index, payload = self._results.get(timeout=1)
            except queue.Empty:
                dead = [p.name for p in self._processes if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"client processes died: {', '.join(dead)}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"client processes did not answer {kind!r} in time"
                    ) from None
                continue
            if got == "failed":
                raise RuntimeError(f"client process {index} failed:\n{payload}")
            if got != kind:
                raise RuntimeError(f"client process {index} answered {got!r}, not {kind!r}")
            if isinstance(payload, CellPart):
                parts.append(payload)
            else:
                parts.append(CellPart())
        return parts

    def send(self, command: RunCommand | SeedCommand) -> None:
        for commands in self._commands:
            commands.put(command)

    def collect(self, kind: str, deadline: float) -> CellPart:
        merged = CellPart()
        for part in self._collect(kind, deadline):
            merged.add(part)
        return merged

    def close(self) -> None:
        for commands in self._commands:
            with contextlib.suppress(Exception):
                commands.put(None)
        # A process in the middle of a cell (Ctrl-C) would finish it first: not worth waiting.
        deadline = time.monotonic() + 5
        for process in self._processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


@contextlib.contextmanager
def client_pool(
    concurrency: int, processes: int, targets: Sequence[SystemTarget]
) -> Iterator[ClientPool]:
    pool = ClientPool(concurrency, processes, targets)
    try:
        yield pool
    finally:
        pool.close()


def run_cell(
    pool: ClientPool,
    system: System,
    op: str,
    fixtures: Fixtures,
    *,
    warmup: float,
    seconds: float,
    meter: CpuMeter,
) -> CellResult:
    """One cell: every worker of `pool` calls `op` on `system`, all starting together."""
    start_at = time.monotonic() + 0.3  # time for the command to reach every process
    begin = start_at + warmup
    end = begin + seconds
    pool.send(
        RunCommand(
            system=system.label,
            op=op,
            concurrency=pool.concurrency,
            total_workers=pool.concurrency,
            fixtures=fixtures,
            start_at=start_at,
            begin=begin,
            end=end,
        )
    )
    sleep_until(begin)
    before = meter.sample(system)
    sleep_until(end)
    after = meter.sample(system)
    part = pool.collect("run", end + CALL_TIMEOUT + 60)
    return cell_result(op, pool.concurrency, system.label, seconds, part, before, after)
