"""A realistic registry workload, shared by the load and fault tests and ``bench/load.py``.

Many clients, each with its own ``RegistryClient`` (its own channel, like separate deployment
jobs and CI pipelines), call one server for a while with this mix:

* 80 % ``resolve`` of a ``models:/`` URI: a version number, ``latest``, ``Production``,
  ``Staging`` or ``@champion``;
* 10 % ``create`` of a version;
* 5 % stage transitions with ``archive_existing_versions``: even versions go to
  ``Production``, odd ones to ``Staging``, so each stage always has exactly one holder and
  resolving a stage never legitimately fails;
* 5 % alias moves: ``@champion`` moved unconditionally, ``@challenger`` moved by
  compare-and-swap after reading it, or deleted.

Every acknowledged write goes into a ``Ledger``; ``support.load_checks`` then checks the
registry against it. A compare-and-swap that loses a race (``FAILED_PRECONDITION``) and deleting
an alias that is already gone (``NOT_FOUND``) are correct answers, counted as refusals, not
errors; every other status than OK is an error.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from registry_client import AliasMove, RegistryClient, RegistryError

#: Expected non-OK answers per operation: the workload races with itself on purpose.
REFUSALS: dict[str, frozenset[str]] = {
    "alias_cas": frozenset({"FAILED_PRECONDITION"}),
    "alias_delete": frozenset({"NOT_FOUND"}),
}
#: How long a client waits after an error before its next call.
FAILURE_PAUSE = 0.05
OPERATIONS = (
    "resolve",
    "create",
    "transition",
    "alias_set",
    "get_model",
    "alias_cas",
    "alias_delete",
)


@dataclass(frozen=True, slots=True)
class AliasAck:
    """An acknowledged alias move: ``previous`` 0 means the alias was new."""

    alias: str
    previous: int
    version: int


@dataclass
class Ledger:
    """What the server acknowledged, per model; shared by all clients of one run."""

    models: tuple[str, ...]
    versions: dict[str, dict[int, str]] = field(default_factory=dict)  # number -> source
    double_acks: list[str] = field(default_factory=list)
    transitions: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    alias_moves: dict[str, list[AliasAck]] = field(default_factory=dict)
    alias_deletes: dict[str, Counter[str]] = field(default_factory=dict)
    _numbers: dict[str, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for model in self.models:
            self.versions[model] = {}
            self.transitions[model] = []
            self.alias_moves[model] = []
            self.alias_deletes[model] = Counter()
            self._numbers[model] = []

    def ack_version(self, model: str, number: int, source: str) -> None:
        with self._lock:
            known = self.versions[model].get(number)
            if known is not None:
                # Two acknowledged creates got the same number: one of them is lost.
                self.double_acks.append(f"{model} v{number}: {known!r} and {source!r}")
                return
            self.versions[model][number] = source
            self._numbers[model].append(number)

    def ack_transition(self, model: str, number: int, stage: str) -> None:
        with self._lock:
            self.transitions[model].append((number, stage))

    def ack_alias_move(self, model: str, move: AliasAck) -> None:
        with self._lock:
            self.alias_moves[model].append(move)

    def ack_alias_delete(self, model: str, alias: str) -> None:
        with self._lock:
            self.alias_deletes[model][alias] += 1

    def pick_version(self, model: str, rng: random.Random, parity: int | None = None) -> int:
        """A random acknowledged version of ``model`` (even or odd when ``parity`` is given)."""
        numbers = self._numbers[model]
        while True:  # seeding guarantees both an even and an odd version
            number = numbers[rng.randrange(len(numbers))]
            if parity is None or number % 2 == parity:
                return number


def seed_models(client: RegistryClient, ledger: Ledger) -> None:
    """Give every model what the workload relies on: v1 in Staging, v2 in Production,
    ``@champion`` on v2 and ``@challenger`` on v1, all recorded in the ledger.

    Models are seeded in parallel (each one's steps in order): seeding is set-up, not load.
    """

    def seed(model: str) -> None:
        client.create_registered_model(model, tags={"purpose": "load"})
        for number in (1, 2):
            source = f"s3://load/seed/{model}/{number}"
            created = client.create_model_version(model, source=source)
            ledger.ack_version(model, created.version, source)
        for number, stage in ((1, "Staging"), (2, "Production")):
            client.transition_model_version_stage(
                model, number, stage, archive_existing_versions=True
            )
            ledger.ack_transition(model, number, stage)
        for alias, number in (("champion", 2), ("challenger", 1)):
            client.move_registered_model_alias(model, alias, number, expected_version=0)
            ledger.ack_alias_move(model, AliasAck(alias, 0, number))

    with ThreadPoolExecutor(max_workers=len(ledger.models)) as pool:
        list(pool.map(seed, ledger.models))


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One RPC as a client saw it: ``started`` is ``time.monotonic()``."""

    op: str
    started: float
    elapsed: float
    code: str

    @property
    def failed(self) -> bool:
        return self.code != "OK" and self.code not in REFUSALS.get(self.op, frozenset())


@dataclass(frozen=True)
class OpStats:
    op: str
    calls: int
    ok: int
    refused: int
    errors: Counter[str]
    per_second: float
    p50_ms: float
    p99_ms: float


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class LoadResult:
    clients: int
    seconds: float
    records: list[CallRecord]
    hung_clients: int = 0

    def failures(self, start: float = float("-inf"), end: float = float("inf")) -> list[CallRecord]:
        """Calls that got neither OK nor an expected refusal, started in [start, end)."""
        return [r for r in self.records if r.failed and start <= r.started < end]

    def between(self, start: float, end: float = float("inf")) -> list[CallRecord]:
        return [r for r in self.records if start <= r.started < end]

    def stats(self) -> list[OpStats]:
        out = []
        for op in OPERATIONS:
            mine = [r for r in self.records if r.op == op]
            if not mine:
                continue
            latencies = [r.elapsed for r in mine]
            out.append(
                OpStats(
                    op=op,
                    calls=len(mine),
                    ok=sum(r.code == "OK" for r in mine),
                    refused=sum(r.code in REFUSALS.get(op, ()) for r in mine),
                    errors=Counter(r.code for r in mine if r.failed),
                    per_second=len(mine) / self.seconds if self.seconds else 0.0,
                    p50_ms=statistics.median(latencies) * 1000,
                    p99_ms=percentile(latencies, 0.99) * 1000,
                )
            )
        return out

    def table(self) -> str:
        """The per-operation figures as aligned text (pytest shows it on failure or with -s)."""
        header = f"{'op':<13}{'calls':>8}{'ok':>8}{'refused':>8}{'errors':>8}{'/s':>9}"
        header += f"{'p50 ms':>9}{'p99 ms':>9}"
        lines = [header]
        for s in self.stats():
            lines.append(
                f"{s.op:<13}{s.calls:>8}{s.ok:>8}{s.refused:>8}{sum(s.errors.values()):>8}"
                f"{s.per_second:>9.1f}{s.p50_ms:>9.1f}{s.p99_ms:>9.1f}"
            )
        total = len(self.records)
        lines.append(
            f"{self.clients} clients, {self.seconds:.1f} s, {total} calls, "
            f"{total / self.seconds if self.seconds else 0:.0f} calls/s, "
            f"{len(self.failures())} errors"
        )
        return "\n".join(lines)


class LoadRunner:
    """Runs the workload from ``clients`` threads until ``stop()``.

    ``timeout`` and ``max_attempts`` are the clients' own (deadline per call including retries,
    attempts on UNAVAILABLE): fault tests pass short deadlines or ``max_attempts=1`` to see each
    answer the server gives.
    """

    def __init__(
        self,
        target: str,
        ledger: Ledger,
        *,
        clients: int,
        timeout: float = 10.0,
        max_attempts: int = 5,
        seed: int = 0,
    ) -> None:
        self.target = target
        self.ledger = ledger
        self.clients = clients
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.seed = seed
        self._stop = threading.Event()
        self._records: list[list[CallRecord]] = [[] for _ in range(clients)]
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def run(self, seconds: float) -> LoadResult:
        self.start()
        time.sleep(seconds)
        return self.stop()

    def start(self) -> None:
        ready = threading.Barrier(self.clients + 1)
        self._threads = [
            threading.Thread(target=self._client, args=(i, ready), name=f"load-{i}", daemon=True)
            for i in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        ready.wait(timeout=60)  # every channel is open: the clock starts with all of them
        self._started = time.monotonic()

    def calls_so_far(self, since: float = float("-inf"), code: str | None = None) -> int:
        """How many calls started at or after ``since`` (with status ``code``, if given) have
        finished, while the clients keep running."""
        # Each client only appends to its own list; a copy of it is a consistent prefix.
        return sum(
            1
            for mine in self._records
            for r in list(mine)
            if r.started >= since and (code is None or r.code == code)
        )

    def wait_for_calls(
        self,
        count: int,
        *,
        since: float = float("-inf"),
        code: str | None = "OK",
        timeout: float = 30.0,
    ) -> None:
        """Block until ``count`` calls started at or after ``since`` finished with ``code``
        (any status when None): the load demonstrably runs, instead of a fixed sleep."""
        deadline = time.monotonic() + timeout
        while (seen := self.calls_so_far(since, code)) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{seen} of {count} calls with {code or 'any status'} after {timeout:.0f} s"
                )
            time.sleep(0.02)

    def stop(self) -> LoadResult:
        self._stop.set()
        elapsed = time.monotonic() - self._started
        hung = 0
        give_up = time.monotonic() + self.timeout + 10
        for thread in self._threads:
            thread.join(timeout=max(0.0, give_up - time.monotonic()))
            hung += thread.is_alive()
        records = [r for mine in self._records for r in mine]
        records.sort(key=lambda r: r.started)
        return LoadResult(self.clients, elapsed, records, hung)

    # ------------------------------------------------------------------ one client

    def _client(self, index: int, ready: threading.Barrier) -> None:
        rng = random.Random(self.seed * 1_000_003 + index)
        records = self._records[index]
        with RegistryClient(
            self.target,
            actor=f"load-{index}",
            timeout=self.timeout,
            max_attempts=self.max_attempts,
        ) as client:
            ready.wait(timeout=60)
            sequence = 0
            while not self._stop.is_set():
                sequence += 1
                model = self.ledger.models[rng.randrange(len(self.ledger.models))]
                draw = rng.random()
                answered = len(records)
                if draw < 0.80:
                    self._resolve(client, model, rng, records)
                elif draw < 0.90:
                    self._create(client, model, f"s3://load/{index}/{sequence}", records)
                elif draw < 0.95:
                    self._transition(client, model, rng, records)
                else:
                    self._alias(client, model, rng, records)
                if any(r.failed for r in records[answered:]):
                    time.sleep(FAILURE_PAUSE)  # as a real caller would, instead of spinning

    def _timed(
        self, records: list[CallRecord], op: str, call: Callable[[], Any]
    ) -> tuple[bool, Any]:
        """Run one RPC and record its outcome; return (answered OK, its result)."""
        started = time.monotonic()
        try:
            result = call()
        except RegistryError as exc:
            records.append(CallRecord(op, started, time.monotonic() - started, exc.code.name))
            return False, None
        except Exception as exc:  # a wrong answer, or a bug in the client: an error too
            code = f"EXCEPTION {type(exc).__name__}: {exc}"
            records.append(CallRecord(op, started, time.monotonic() - started, code))
            return False, None
        records.append(CallRecord(op, started, time.monotonic() - started, "OK"))
        return True, result

    def _resolve(
        self, client: RegistryClient, model: str, rng: random.Random, records: list[CallRecord]
    ) -> None:
        kind = rng.randrange(5)
        number = self.ledger.pick_version(model, rng)
        selector = (f"/{number}", "/latest", "/Production", "/Staging", "@champion")[kind]

        def call() -> None:
            resolved = client.resolve(f"models:/{model}{selector}").model_version
            if kind == 0 and resolved.version != number:
                raise AssertionError(f"{selector} resolved to v{resolved.version}")
            if kind in (2, 3) and resolved.current_stage != selector[1:]:
                raise AssertionError(f"{selector} resolved to a {resolved.current_stage} version")

        self._timed(records, "resolve", call)

    def _create(
        self, client: RegistryClient, model: str, source: str, records: list[CallRecord]
    ) -> None:
        ok, created = self._timed(
            records, "create", lambda: client.create_model_version(model, source=source)
        )
        if ok:
            self.ledger.ack_version(model, created.version, source)

    def _transition(
        self, client: RegistryClient, model: str, rng: random.Random, records: list[CallRecord]
    ) -> None:
        stage = "Production" if rng.random() < 0.5 else "Staging"
        number = self.ledger.pick_version(model, rng, parity=0 if stage == "Production" else 1)

        def call() -> None:
            moved = client.transition_model_version_stage(
                model, number, stage, archive_existing_versions=True
            )
            if moved.current_stage != stage:
                raise AssertionError(f"v{number} moved to {moved.current_stage}, not {stage}")

        ok, _ = self._timed(records, "transition", call)
        if ok:
            self.ledger.ack_transition(model, number, stage)

    def _alias(
        self, client: RegistryClient, model: str, rng: random.Random, records: list[CallRecord]
    ) -> None:
        number = self.ledger.pick_version(model, rng)
        draw = rng.random()
        if draw < 0.5:
            ok, move = self._timed(
                records,
                "alias_set",
                lambda: client.move_registered_model_alias(model, "champion", number),
            )
            if ok:
                previous = move.previous_version or 0
                self.ledger.ack_alias_move(model, AliasAck("champion", previous, number))
        elif draw < 0.85:
            ok, found = self._timed(
                records, "get_model", lambda: client.get_registered_model(model)
            )
            if not ok:
                return
            current = found.aliases.get("challenger", 0)

            def swap() -> AliasMove:
                move = client.move_registered_model_alias(
                    model, "challenger", number, expected_version=current
                )
                if (move.previous_version or 0) != current:
                    raise AssertionError(
                        f"compare-and-swap from v{current} reports v{move.previous_version}"
                    )
                return move

            ok, move = self._timed(records, "alias_cas", swap)
            if ok:
                self.ledger.ack_alias_move(model, AliasAck("challenger", current, number))
        else:
            ok, _ = self._timed(
                records,
                "alias_delete",
                lambda: client.delete_registered_model_alias(model, "challenger"),
            )
            if ok:
                self.ledger.ack_alias_delete(model, "challenger")
