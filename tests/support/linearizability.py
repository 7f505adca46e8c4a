"""A small linearizability checker for one alias moved by compare-and-swap and one stage
(Production) changed with archive-existing, on one model.

No maintained linearizability checker exists for Python (PyPI has none; Knossos, Elle and
Porcupine are Clojure and Go), and the general problem (find any order of the calls that a
sequential model accepts) is NP-complete. Ours does not search: the registry records every
committed change as an event, in commit order (the model's row lock serialises them), so the
history *claims* an order, and checking a claimed order is linear. The checker accepts the
history only if it is a legal linearization of the calls the clients made:

* the sequential model accepts it: each move's expected version is the alias's value before it
  (the previous move's target), and after each promotion exactly one version is in Production,
  the others that held it having been archived in the same step;
* every step was made, once, by a call that asked for that change (each call sends an id of its
  own as its actor, which the change records), and every acknowledged move has its step:
  nothing acknowledged is lost, nothing appears that nobody asked for. A call whose outcome is
  unknown (UNAVAILABLE, deadline) may have a step or not;
* real time: a call that returned before another was invoked comes first;
* calls that changed nothing (failed preconditions, reads, a promotion of the version already in
  Production) each fit at some point of the history inside their own call window, and in the
  real-time order among themselves: a precondition failure saw an alias value other than its
  expected one (the value it was told, when known), a read saw a value the alias had.

Times are whatever clock the caller used for ``invoked``/``returned`` (monotonic, one process);
they are only compared with each other, never with the server's timestamps.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

PRODUCTION = "Production"
ARCHIVED = "Archived"

_ARCHIVE_REASON = re.compile(r"version (\d+) moved to Production")


class Kind(Enum):
    MOVE = "move"  # compare-and-swap of the alias
    PROMOTE = "promote"  # transition to Production, archiving the other holders
    READ = "read"  # the alias's current version


class Outcome(Enum):
    OK = "ok"
    FAILED = "failed precondition"
    UNKNOWN = "unknown"  # UNAVAILABLE or deadline: it may or may not have happened


@dataclass(frozen=True)
class Call:
    """One client call and what its client saw.

    ``id`` names the call, uniquely: the client sends it as its actor, so the change the call
    made (if any) is recorded with it, and the history tells which call made each step.
    ``target``: the version moved to (MOVE) or promoted (PROMOTE). ``expected``: the
    compare-and-swap condition (MOVE). ``observed``: what the server said the alias was: a
    read's answer, an acknowledged move's previous version, a failed move's current version
    when its message says it (None: not known).
    """

    id: str
    kind: Kind
    invoked: float
    returned: float
    outcome: Outcome
    target: int | None = None
    expected: int | None = None
    observed: int | None = None

    def __str__(self) -> str:
        what = {
            Kind.MOVE: f"move {self.expected}->{self.target}",
            Kind.PROMOTE: f"promote {self.target}",
            Kind.READ: f"read ={self.observed}",
        }[self.kind]
        return f"{self.id} {what} {self.outcome.value} [{self.invoked:.3f}, {self.returned:.3f}]"


@dataclass(frozen=True)
class Step:
    """One committed change, as the history lists it (in order).

    MOVE: the alias went from ``before`` to ``version``. PROMOTE: ``version`` went to
    Production (or already was) and ``archived`` left it, in one transaction.
    """

    call: str
    kind: Kind
    version: int
    before: int | None = None
    archived: tuple[int, ...] = ()
    event_id: int = 0

    def __str__(self) -> str:
        if self.kind is Kind.MOVE:
            what = f"move {self.before}->{self.version}"
        else:
            what = f"promote {self.version} archiving {list(self.archived)}"
        return f"event {self.event_id} ({self.call} {what})"


@dataclass
class Result:
    problems: list[str] = field(default_factory=list)
    #: Calls whose step is in the history, by outcome.
    applied: dict[Outcome, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _State:
    alias: int | None
    production: frozenset[int]


# --------------------------------------------------------------------------- the check


def check(
    calls: Iterable[Call], steps: Sequence[Step], *, alias: int | None, production: Iterable[int]
) -> Result:
    """Check ``steps`` (the history after the initial state ``alias``/``production``) against
    ``calls``; the result lists every problem found (empty: linearizable)."""
    result = Result()
    calls = sorted(calls, key=lambda c: (c.invoked, c.returned))
    states = _replay(steps, _State(alias, frozenset(production)), result.problems)
    for call in calls:
        acknowledged_move = call.kind is Kind.MOVE and call.outcome is Outcome.OK
        if acknowledged_move and call.observed not in (None, call.expected):
            result.problems.append(f"{call} was told the alias was at {call.observed}")
    point = _match(calls, steps, result)  # call index -> position of the state after its step
    _real_time(calls, point, result.problems)
    _fit_unchanged(calls, point, states, result.problems)
    return result


def _replay(steps: Sequence[Step], state: _State, problems: list[str]) -> list[_State]:
    """The sequential model: the states before the first step and after each one."""
    states = [state]
    if len(state.production) != 1:
        problems.append(f"initial state has Production {sorted(state.production)}")
    for step in steps:
        if step.kind is Kind.MOVE:
            if step.before != state.alias:
                problems.append(
                    f"{step}: stale compare-and-swap, the alias was at {state.alias} "
                    f"(the previous move's target), not {step.before}"
                )
            state = _State(step.version, state.production)
        else:
            others = state.production - {step.version}
            if set(step.archived) != others:
                problems.append(
                    f"{step}: Production was held by {sorted(state.production)}, so exactly "
                    f"{sorted(others)} had to be archived"
                )
            production = (state.production | {step.version}) - set(step.archived)
            if len(production) != 1:
                problems.append(f"{step}: {len(production)} versions in Production after it")
            state = _State(state.alias, production)
        states.append(state)
    return states


def _effect(call: Call, step: Step) -> bool:
    if call.kind is not step.kind or call.outcome is Outcome.FAILED:
        return False
    if call.kind is Kind.MOVE:
        return call.expected == step.before and call.target == step.version
    return call.target == step.version


def _changes_state(call: Call) -> bool:
    """An acknowledged call that must have its own step."""
    return call.kind is Kind.MOVE and call.outcome is Outcome.OK and call.expected != call.target


def _match(calls: Sequence[Call], steps: Sequence[Step], result: Result) -> dict[int, int]:
    """Give each step the call that made it, by the id its change recorded."""
    by_id: dict[str, int] = {}
    for i, call in enumerate(calls):
        if call.id in by_id:
            result.problems.append(f"two calls have the id {call.id}: the checker needs one each")
        by_id[call.id] = i
    point: dict[int, int] = {}
    for position, step in enumerate(steps, start=1):
        found = by_id.get(step.call)
        if found is None:
            result.problems.append(f"{step}: no call {step.call} was made")
            continue
        i = found
        if i in point:
            result.problems.append(f"{step}: {calls[i]} took effect twice")
        elif not _effect(calls[i], step):
            result.problems.append(f"{step} is not what {calls[i]} asked for")
        else:
            point[i] = position
            result.applied[calls[i].outcome] += 1
    for i, call in enumerate(calls):
        if _changes_state(call) and i not in point:
            result.problems.append(f"acknowledged {call} is missing from the history")
    return point


def _returned(call: Call) -> float:
    """When the call was over: never, for one whose outcome the client does not know."""
    return math.inf if call.outcome is Outcome.UNKNOWN else call.returned


def _real_time(calls: Sequence[Call], point: Mapping[int, int], problems: list[str]) -> None:
    """A step whose call returned before another step's call was invoked comes first."""
    ordered = sorted(point, key=lambda i: point[i], reverse=True)
    earliest_return: int | None = None  # among the calls with later steps
    for i in ordered:
        if earliest_return is not None:
            later = calls[earliest_return]
            if _returned(later) < calls[i].invoked:
                problems.append(
                    f"real-time order: {later} returned before {calls[i]} was invoked, but its "
                    f"step comes after (position {point[earliest_return]} > {point[i]})"
                )
        if earliest_return is None or _returned(calls[i]) < _returned(calls[earliest_return]):
            earliest_return = i


def _fit_unchanged(
    calls: Sequence[Call], point: Mapping[int, int], states: Sequence[_State], problems: list[str]
) -> None:
    """Place every call without a step at the earliest state that satisfies it, inside its
    window and not before the calls without a step that returned before it was invoked.

    The window: not before the steps of calls that returned before it was invoked, before the
    steps of calls invoked after it returned. Placing each as early as it can (in invocation
    order) is exact here, because these calls only ever push each other later."""
    applied = sorted(point, key=lambda i: _returned(calls[i]))
    returned_at = [_returned(calls[i]) for i in applied]
    max_point_upto: list[int] = []  # prefix maxima of the points, in return order
    for i in applied:
        max_point_upto.append(max(point[i], max_point_upto[-1] if max_point_upto else 0))
    by_invocation = sorted(point, key=lambda i: calls[i].invoked)
    invoked_at = [calls[i].invoked for i in by_invocation]
    min_point_from = [len(states)] * (len(by_invocation) + 1)  # suffix minima
    for k in range(len(by_invocation) - 1, -1, -1):
        min_point_from[k] = min(point[by_invocation[k]], min_point_from[k + 1])

    floor_by_return: list[float] = []  # the calls placed so far, in return order:
    floor_positions: list[int] = []  # their positions
    for i, call in enumerate(calls):
        if i in point or call.outcome is Outcome.UNKNOWN:
            continue  # unknown calls without a step did not happen; they constrain nothing
        predicate = _predicate(call)
        if predicate is None:
            continue
        k = bisect.bisect_left(returned_at, call.invoked)
        low = max_point_upto[k - 1] if k else 0
        # Calls without a step that returned before this one was invoked were placed already.
        j = bisect.bisect_left(floor_by_return, call.invoked)
        if j:
            low = max(low, max(floor_positions[:j]))
        high = min_point_from[bisect.bisect_right(invoked_at, call.returned)] - 1
        found = next((p for p in range(low, high + 1) if predicate(states[p])), None)
        if found is None:
            seen = sorted({str(_describe(states[p])) for p in range(low, max(high, low) + 1)})
            problems.append(
                f"{call} fits no point of the history in its window (positions {low}..{high}: "
                f"{', '.join(seen)})"
            )
            found = low
        at = bisect.bisect_right(floor_by_return, call.returned)
        floor_by_return.insert(at, call.returned)
        floor_positions.insert(at, found)


def _predicate(call: Call) -> Callable[[_State], bool] | None:
    if call.kind is Kind.READ:
        return lambda s: s.alias == call.observed
    if call.kind is Kind.MOVE and call.outcome is Outcome.FAILED:
        if call.observed is not None:
            return lambda s: s.alias == call.observed and s.alias != call.expected
        return lambda s: s.alias != call.expected
    if call.kind is Kind.MOVE:  # acknowledged without a change: expected == target
        return lambda s: s.alias == call.expected
    if call.outcome is Outcome.OK:  # a promotion of what already was in Production
        return lambda s: s.production == {call.target}
    return None  # a failed promotion: nothing to say about the state


def _describe(state: _State) -> str:
    return f"alias {state.alias}, Production {sorted(state.production)}"


# --------------------------------------------------------------------------- from events


class Event(Protocol):
    """What the checker needs of `registry_client.ModelEvent`."""

    @property
    def event_id(self) -> int: ...
    @property
    def actor(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def version(self) -> int | None: ...
    @property
    def before(self) -> Mapping[str, Any]: ...
    @property
    def after(self) -> Mapping[str, Any]: ...


def steps_from_events(events: Iterable[Event], alias: str) -> list[Step]:
    """The steps of a model's history (``alias_set`` of ``alias`` and
    ``version_stage_changed`` events, oldest first).

    One transition with archive-existing writes the promoted version's event, then one per
    archived version, whose reason names the promoted version: they make one step. Archive
    events without their promotion event (the version was in Production already) make a step
    of their own. Anything else in the history is refused: the workload does not make it.
    """
    steps: list[Step] = []
    for event in events:
        after = event.after
        if event.kind == "alias_set" and after.get("alias") == alias:
            steps.append(
                Step(
                    event.actor,
                    Kind.MOVE,
                    int(after["version"]),
                    before=event.before.get("version"),
                    event_id=event.event_id,
                )
            )
            continue
        if event.kind != "version_stage_changed" or event.version is None:
            raise ValueError(f"unexpected event in the history: {event}")
        reason = _ARCHIVE_REASON.fullmatch(str(after.get("reason", "")))
        if after.get("stage") == PRODUCTION and "reason" not in after:
            steps.append(Step(event.actor, Kind.PROMOTE, event.version, event_id=event.event_id))
        elif after.get("stage") == ARCHIVED and reason is not None:
            promoted = int(reason.group(1))
            last = steps[-1] if steps else None
            if (
                last is not None
                and last.kind is Kind.PROMOTE
                and last.version == promoted
                and last.call == event.actor
            ):
                steps[-1] = Step(
                    last.call,
                    Kind.PROMOTE,
                    promoted,
                    archived=(*last.archived, event.version),
                    event_id=last.event_id,
                )
            else:
                steps.append(
                    Step(
                        event.actor,
                        Kind.PROMOTE,
                        promoted,
                        archived=(event.version,),
                        event_id=event.event_id,
                    )
                )
        else:
            raise ValueError(f"unexpected stage change in the history: {event}")
    return steps
