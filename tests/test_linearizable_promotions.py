"""Linearizable promotions: 16 clients on two replicas (two `registry-server serve` processes
on one PostgreSQL) read `@champion`, move it with compare-and-swap and promote versions to
Production with archive-existing, while PostgreSQL is killed (`pg_ctl stop -m immediate`) and
started again once in the middle.

Every call is recorded with its client, its invocation and response times and its outcome: ok,
failed precondition, or unknown (UNAVAILABLE or a deadline: it may have committed or not).
The model's own history (ListModelEvents) then gives the order of the committed changes, and
tests/support/linearizability.py checks that order against the calls: each move's expected
version is the previous move's target, every acknowledged move is in it and nothing else,
exactly one version holds Production after every step, the order respects real time (a call
that returned before another was invoked comes first), and every read and failed precondition
saw a value the alias had during its call.

The restart needs a cluster the test may stop: a throwaway one from the local server binaries
(tests/support/postgres.py), as in tests/test_faults.py.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
from support.linearizability import Call, Kind, Outcome, check, steps_from_events
from support.postgres import (
    PostgresUnavailableError,
    StoppableCluster,
    stoppable_cluster,
    temporary_database,
)
from support.server_process import server_process
from support.waiting import wait_until

from registry_client import (
    ALIAS_MUST_NOT_EXIST,
    DeadlineExceeded,
    FailedPrecondition,
    RegistryClient,
    RegistryError,
    Unavailable,
)
from registry_server import migrate
from registry_server.store.database import make_engine

pytestmark = pytest.mark.slow

CLIENTS = 16
VERSIONS = 6
ALIAS = "champion"
#: Short, so a call that hangs through the restart shows as a deadline.
CALL_TIMEOUT = 3.0
#: Successful calls before the restart, and after it on each replica: proof the load ran.
WARM_CALLS = 150

_SAW = re.compile(r"points at version (\d+)")

T = TypeVar("T")


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[StoppableCluster]:
    with ExitStack() as stack:
        try:
            cluster = stack.enter_context(stoppable_cluster())
        except PostgresUnavailableError as exc:
            pytest.skip(f"no throwaway PostgreSQL cluster to restart: {exc}")
        yield cluster


@dataclass
class Recorder:
    """Every call every client made, and the errors no call may get."""

    calls: list[Call] = field(default_factory=list)
    replica_of: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def ok_since(self, since: float, replica: int | None = None) -> int:
        with self.lock:
            return sum(
                1
                for c in self.calls
                if c.outcome is not Outcome.UNKNOWN
                and c.invoked >= since
                and replica in (None, self.replica_of[c.id.split("/")[0]])
            )

    def unknown_since(self, since: float) -> int:
        with self.lock:
            return sum(1 for c in self.calls if c.outcome is Outcome.UNKNOWN and c.invoked >= since)


def _answered(recorder: Recorder, since: float, replica: int) -> bool:
    return recorder.ok_since(since, replica) >= WARM_CALLS


def _timed(
    recorder: Recorder, call_id: str, attempt: Callable[[], T]
) -> tuple[Outcome, float, float, T | None, str]:
    """Run one call: its outcome, times, result (when ok) and error message (when not)."""
    invoked = time.monotonic()
    try:
        value = attempt()
    except FailedPrecondition as exc:
        return Outcome.FAILED, invoked, time.monotonic(), None, str(exc)
    except (Unavailable, DeadlineExceeded) as exc:
        return Outcome.UNKNOWN, invoked, time.monotonic(), None, str(exc)
    except RegistryError as exc:
        # Never expected: recorded as unknown for the check, and failed on by the test.
        with recorder.lock:
            recorder.errors.append(f"{call_id}: {exc!r}")
        return Outcome.UNKNOWN, invoked, time.monotonic(), None, str(exc)
    return Outcome.OK, invoked, time.monotonic(), value, ""


def _client_loop(
    target: str, model: str, client: str, recorder: Recorder, stop: threading.Event, seed: int
) -> None:
    """Reads, moves from the value this client last saw (often stale, so many moves fail their
    precondition) and promotions, at random, one call at a time. Each call has an id of its own,
    sent as its actor: the history names the call that made each change."""
    rng = random.Random(seed)
    seen: int | None = None
    with RegistryClient(target) as connection:
        for n in itertools.count():
            if stop.is_set():
                return
            call_id = f"{client}/{n}"
            api = RegistryClient(
                channel=connection.channel, timeout=CALL_TIMEOUT, max_attempts=1, actor=call_id
            )
            roll = rng.random()
            if seen is None or roll < 0.15:
                outcome, invoked, returned, found, _ = _timed(
                    recorder, call_id, partial(api.get_model_version_by_alias, model, ALIAS)
                )
                observed = found.version if found is not None else None
                recorder.add(
                    Call(call_id, Kind.READ, invoked, returned, outcome, observed=observed)
                )
                seen = observed if observed is not None else seen
            elif roll < 0.75:
                expected = seen
                version = rng.choice([v for v in range(1, VERSIONS + 1) if v != expected])
                outcome, invoked, returned, move, message = _timed(
                    recorder,
                    call_id,
                    partial(
                        api.move_registered_model_alias,
                        model,
                        ALIAS,
                        version,
                        expected_version=expected,
                    ),
                )
                observed = None
                if move is not None:
                    observed, seen = move.previous_version, version
                elif outcome is Outcome.FAILED and (said := _SAW.search(message)):
                    observed = seen = int(said.group(1))
                recorder.add(
                    Call(
                        call_id, Kind.MOVE, invoked, returned, outcome, version, expected, observed
                    )
                )
            else:
                version = rng.randint(1, VERSIONS)
                outcome, invoked, returned, _, _ = _timed(
                    recorder,
                    call_id,
                    partial(
                        api.transition_model_version_stage,
                        model,
                        version,
                        "Production",
                        archive_existing_versions=True,
                    ),
                )
                recorder.add(Call(call_id, Kind.PROMOTE, invoked, returned, outcome, version))
            if outcome is Outcome.UNKNOWN:
                time.sleep(0.05)  # no busy loop against a database that is down


def test_cas_moves_and_promotions_on_two_replicas_are_linearizable_across_a_postgres_restart(
    own_cluster: StoppableCluster, tmp_path: Path
) -> None:
    model = f"champ-{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    stop = threading.Event()
    with temporary_database(own_cluster.url, prefix="registry_linear") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        artifacts = str(tmp_path / "artifacts")
        with (
            server_process(url, artifacts, tmp_path / "a.log") as first,
            server_process(url, artifacts, tmp_path / "b.log") as second,
        ):
            replicas = (first, second)
            with RegistryClient(first.target, actor="setup") as setup:
                setup.create_registered_model(model)
                for _ in range(VERSIONS):
                    setup.create_model_version(model, source="s3://elsewhere/m")
                setup.set_registered_model_alias(
                    model, ALIAS, 1, expected_version=ALIAS_MUST_NOT_EXIST
                )
                setup.transition_model_version_stage(
                    model, 1, "Production", archive_existing_versions=True
                )
                cursor = max(e.event_id for e in setup.iter_model_events(model))

            threads = []
            for i in range(CLIENTS):
                client = f"client-{i:02d}"
                recorder.replica_of[client] = i % 2
                target = replicas[i % 2].target
                threads.append(
                    threading.Thread(
                        target=_client_loop,
                        args=(target, model, client, recorder, stop, i),
                        name=client,
                    )
                )
            for thread in threads:
                thread.start()
            try:
                wait_until(lambda: recorder.ok_since(0) >= WARM_CALLS, 30, what="load warmed up")
                down = time.monotonic()
                own_cluster.stop("immediate")
                wait_until(lambda: recorder.unknown_since(down) >= CLIENTS, 15, what="outage seen")
                own_cluster.start()
                up = time.monotonic()
                for replica in (0, 1):
                    wait_until(
                        partial(_answered, recorder, up, replica),
                        30,
                        what=f"replica {replica} answering after the restart",
                    )
            finally:
                stop.set()
                for thread in threads:
                    thread.join(CALL_TIMEOUT + 10)
            assert not any(t.is_alive() for t in threads), "a client hung"

            with RegistryClient(second.target, actor="checker") as reader:
                events = list(
                    reader.iter_model_events(
                        model, after_event_id=cursor, kinds=["alias_set", "version_stage_changed"]
                    )
                )
                final_alias = reader.get_model_version_by_alias(model, ALIAS).version
                final_production = {
                    v
                    for v in range(1, VERSIONS + 1)
                    if reader.get_model_version(model, v).current_stage == "Production"
                }
            logs = [replica.log() for replica in replicas]

    steps = steps_from_events(events, ALIAS)
    result = check(recorder.calls, steps, alias=1, production={1})
    outcomes = Counter(c.outcome for c in recorder.calls)
    kinds = Counter((c.kind, c.outcome) for c in recorder.calls)
    print(
        f"\n{len(recorder.calls)} calls: {outcomes[Outcome.OK]} ok, "
        f"{outcomes[Outcome.FAILED]} failed precondition, {outcomes[Outcome.UNKNOWN]} unknown "
        f"({result.applied[Outcome.UNKNOWN]} of them in the history); {len(steps)} steps "
        f"({sum(s.kind is Kind.MOVE for s in steps)} moves); "
        + ", ".join(f"{k.value} {o.value}: {n}" for (k, o), n in sorted(kinds.items(), key=str))
    )
    assert recorder.errors == []
    assert result.problems == [], "\n".join(result.problems[:20])
    # The history ends where the registry stands.
    moves = [s for s in steps if s.kind is Kind.MOVE]
    promotions = [s for s in steps if s.kind is Kind.PROMOTE]
    assert final_alias == (moves[-1].version if moves else 1)
    assert final_production == {promotions[-1].version if promotions else 1}
    # The run exercised what it claims to: races lost, calls cut by the restart.
    assert kinds[(Kind.MOVE, Outcome.OK)] and kinds[(Kind.MOVE, Outcome.FAILED)]
    assert kinds[(Kind.PROMOTE, Outcome.OK)] and outcomes[Outcome.UNKNOWN]
    for log in logs:
        assert "unhandled error" not in log and "Traceback" not in log, log[-4000:]
