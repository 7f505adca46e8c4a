"""The linearizability checker of tests/support/linearizability.py, on histories written by
hand: ones it must accept, and ones it must refuse (a lost acknowledgement, a reordering, two
versions in Production, a stale compare-and-swap, a stale read, a phantom change)."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from support.linearizability import (
    Call,
    Kind,
    Outcome,
    Result,
    Step,
    check,
    steps_from_events,
)

from registry_client import ModelEvent

OK, FAILED, UNKNOWN = Outcome.OK, Outcome.FAILED, Outcome.UNKNOWN
MOVE, PROMOTE, READ = Kind.MOVE, Kind.PROMOTE, Kind.READ


def move(
    client: str,
    expected: int,
    target: int,
    invoked: float,
    returned: float,
    outcome: Outcome = OK,
    observed: int | None = None,
) -> Call:
    return Call(client, MOVE, invoked, returned, outcome, target, expected, observed)


def promote(
    client: str, target: int, invoked: float, returned: float, outcome: Outcome = OK
) -> Call:
    return Call(client, PROMOTE, invoked, returned, outcome, target)


def read(client: str, observed: int, invoked: float, returned: float) -> Call:
    return Call(client, READ, invoked, returned, OK, observed=observed)


def moved(client: str, before: int, after: int) -> Step:
    return Step(client, MOVE, after, before=before)


def promoted(client: str, version: int, *archived: int) -> Step:
    return Step(client, PROMOTE, version, archived=archived)


def run(calls: list[Call], steps: list[Step]) -> Result:
    """The history starts with the alias at 1 and version 1 in Production."""
    return check(calls, steps, alias=1, production={1})


def refused(result: Result, *words: str) -> None:
    assert result.problems, "the history was accepted"
    text = "\n".join(result.problems)
    for word in words:
        assert word in text, text


# ------------------------------------------------------------------------- accepted


def test_sequential_moves_and_promotions_are_accepted() -> None:
    calls = [
        move("a1", 1, 2, 0, 1),
        promote("b1", 2, 2, 3),
        move("a2", 2, 3, 4, 5),
        read("b2", 3, 6, 7),
        promote("b3", 3, 8, 9),
    ]
    steps = [moved("a1", 1, 2), promoted("b1", 2, 1), moved("a2", 2, 3), promoted("b3", 3, 2)]
    result = run(calls, steps)
    assert result.ok, result.problems
    assert result.applied[OK] == 4


def test_overlapping_calls_may_take_effect_in_either_order() -> None:
    calls = [move("a", 1, 2, 0, 10), move("b", 2, 3, 1, 5), read("c", 3, 2, 3)]
    # b's move happened after a's although b returned first: they overlap.
    assert run(calls, [moved("a", 1, 2), moved("b", 2, 3)]).ok


def test_the_loser_of_a_race_fails_its_precondition_seeing_the_winner() -> None:
    calls = [move("a", 1, 2, 0, 2), move("b", 1, 3, 0, 2, FAILED, observed=2)]
    assert run(calls, [moved("a", 1, 2)]).ok


def test_unknown_calls_may_or_may_not_appear() -> None:
    calls = [
        move("a", 1, 2, 0, 1, UNKNOWN),  # took effect
        move("b", 1, 4, 0, 1, UNKNOWN),  # did not
        promote("c", 3, 0, 1, UNKNOWN),  # did not
        move("d", 2, 3, 2, 3),
    ]
    result = run(calls, [moved("a", 1, 2), moved("d", 2, 3)])
    assert result.ok, result.problems
    assert result.applied == {UNKNOWN: 1, OK: 1}


def test_an_unknown_call_may_take_effect_after_its_client_gave_up() -> None:
    # a's call timed out at 1; its change committed after d's, which began at 2.
    calls = [move("a", 2, 5, 0, 1, UNKNOWN), move("d", 1, 2, 2, 3)]
    assert run(calls, [moved("d", 1, 2), moved("a", 2, 5)]).ok


def test_promoting_the_version_already_in_production_changes_nothing() -> None:
    calls = [promote("a1", 1, 0, 1), promote("b", 2, 2, 3), promote("a2", 2, 4, 5)]
    assert run(calls, [promoted("b", 2, 1)]).ok


def test_the_same_change_asked_twice_by_one_client_is_told_apart_by_the_call_id() -> None:
    # a1 found 4 in Production already (no step); a2 made the step, after b's.
    calls = [promote("b", 4, 0, 1), promote("a1", 4, 2, 3), promote("c", 5, 4, 5)]
    calls += [promote("a2", 4, 6, 7)]
    steps = [promoted("b", 4, 1), promoted("c", 5, 4), promoted("a2", 4, 5)]
    assert run(calls, steps).ok


# ------------------------------------------------------------------------- refused


def test_a_lost_acknowledged_move_is_refused() -> None:
    calls = [move("a", 1, 2, 0, 1), move("b", 1, 3, 2, 3)]
    refused(run(calls, [moved("b", 1, 3)]), "acknowledged a move 1->2", "missing")


def test_moves_reordered_against_real_time_are_refused() -> None:
    # a returned before b was invoked, yet the history puts b first: b's expected version is
    # not what the alias held then.
    calls = [move("a", 1, 2, 0, 1), move("b", 2, 3, 2, 3)]
    refused(run(calls, [moved("b", 2, 3), moved("a", 1, 2)]), "stale compare-and-swap")


def test_promotions_reordered_against_real_time_are_refused() -> None:
    # Each step archives what the one before left in Production: the model accepts the order,
    # real time does not.
    calls = [promote("a", 2, 0, 1), promote("b", 3, 2, 3)]
    result = run(calls, [promoted("b", 3, 1), promoted("a", 2, 3)])
    refused(result, "real-time order", "b promote 3")
    assert len(result.problems) == 1, result.problems


def test_two_versions_in_production_at_once_are_refused() -> None:
    calls = [promote("a", 2, 0, 1), promote("b", 3, 2, 3)]
    refused(
        run(calls, [promoted("a", 2, 1), promoted("b", 3)]),
        "2 versions in Production",
        "exactly [2] had to be archived",
    )


def test_a_stale_compare_and_swap_success_is_refused() -> None:
    # Both expected 1 and both were told they succeeded: the second one's expected version is
    # not the first one's target.
    calls = [move("a", 1, 2, 0, 1), move("b", 1, 3, 0, 1)]
    refused(run(calls, [moved("a", 1, 2), moved("b", 1, 3)]), "stale compare-and-swap")


def test_a_success_told_the_wrong_previous_version_is_refused() -> None:
    calls = [move("a", 1, 2, 0, 1, observed=3)]
    refused(run(calls, [moved("a", 1, 2)]), "was told the alias was at 3")


def test_a_stale_read_is_refused() -> None:
    calls = [move("a", 1, 2, 0, 1), read("b", 1, 2, 3)]
    refused(run(calls, [moved("a", 1, 2)]), "b read =1 ok", "fits no point")


def test_a_read_going_back_in_time_is_refused() -> None:
    # The move's outcome is unknown, so either value may be read, but not new then old.
    calls = [move("a", 1, 2, 0, 9, UNKNOWN), read("b", 2, 1, 2), read("c", 1, 3, 4)]
    refused(run(calls, [moved("a", 1, 2)]), "c read =1 ok")


def test_a_no_op_promotion_when_another_version_held_production_is_refused() -> None:
    calls = [promote("a", 2, 0, 1)]
    refused(run(calls, []), "a promote 2 ok", "fits no point")


def test_a_precondition_failure_when_the_alias_held_the_expected_version_is_refused() -> None:
    calls = [move("a", 1, 2, 0, 1, FAILED)]
    refused(run(calls, []), "a move 1->2 failed precondition", "fits no point")


def test_a_change_nobody_asked_for_is_refused() -> None:
    refused(run([], [moved("ghost", 1, 2)]), "no call ghost was made")


def test_a_change_other_than_the_one_asked_for_is_refused() -> None:
    calls = [move("a", 1, 2, 0, 1, UNKNOWN)]
    refused(run(calls, [moved("a", 1, 3)]), "is not what a move 1->2 unknown")


def test_a_call_taking_effect_twice_is_refused() -> None:
    calls = [promote("a", 2, 0, 1)]
    refused(run(calls, [promoted("a", 2, 1), promoted("a", 2)]), "took effect twice")


def test_a_step_of_a_failed_call_is_refused() -> None:
    calls = [move("a", 1, 2, 0, 1, FAILED)]
    refused(run(calls, [moved("a", 1, 2)]), "is not what a move 1->2 failed precondition")


# ------------------------------------------------------------------------- from events


def alias_set(event_id: int, actor: str, before: int, after: int) -> ModelEvent:
    return ModelEvent(
        event_id=event_id,
        timestamp=1,
        actor=actor,
        kind="alias_set",
        model_name="m",
        version=after,
        before=MappingProxyType({"alias": "champion", "version": before}),
        after=MappingProxyType({"alias": "champion", "version": after}),
    )


def staged(
    event_id: int, actor: str, version: int, before: str, after: str, reason: str = ""
) -> ModelEvent:
    return ModelEvent(
        event_id=event_id,
        timestamp=1,
        actor=actor,
        kind="version_stage_changed",
        model_name="m",
        version=version,
        before=MappingProxyType({"stage": before}),
        after=MappingProxyType({"stage": after, **({"reason": reason} if reason else {})}),
    )


def test_a_promotion_and_its_archived_versions_make_one_step() -> None:
    events = [
        alias_set(7, "a", 1, 2),
        staged(8, "b", 3, "None", "Production"),
        staged(9, "b", 1, "Production", "Archived", "version 3 moved to Production"),
        staged(10, "c", 2, "Production", "Archived", "version 4 moved to Production"),
    ]
    assert steps_from_events(events, "champion") == [
        Step("a", MOVE, 2, before=1, event_id=7),
        Step("b", PROMOTE, 3, archived=(1,), event_id=8),
        # Archived without a promotion event: 4 was in Production already.
        Step("c", PROMOTE, 4, archived=(2,), event_id=10),
    ]


def test_events_the_workload_does_not_make_are_refused() -> None:
    demoted = staged(1, "a", 3, "Production", "Staging")
    with pytest.raises(ValueError, match="unexpected stage change"):
        steps_from_events([demoted], "champion")
