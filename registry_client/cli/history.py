"""``registry history``: recorded changes, or a model's state at a past moment."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._format import (
    EMPTY,
    clip_cell,
    fmt_map,
    fmt_time,
    key_values,
    rows,
    to_jsonable,
)
from registry_client.cli._parsing import Result, command, non_negative_int, positive_int
from registry_client.types import ModelEvent, ModelStateAsOf

_TIMES = (
    "Times are ISO-8601 (2026-03-01, 2026-03-01T10:00, '2026-03-01 10:00:00+02:00',\n"
    "2026-03-01T08:00Z) or epoch milliseconds; a time without an offset is UTC, not\n"
    "your local time. Times in the table are shown in UTC."
)


_KINDS = (
    "model_created, model_renamed, model_updated, model_deleted, model_tag_set,\n"
    "model_tag_deleted, version_created, version_updated, version_deleted,\n"
    "version_stage_changed, version_status_changed, version_tag_set,\n"
    "version_tag_deleted, alias_set, alias_deleted"
)


def add(sub: Any) -> None:
    p = command(
        sub,
        "history",
        history,
        "recorded changes, or a model's state at a past moment",
        "List recorded changes, oldest first: who changed what, when, and the values\n"
        "before and after. With NAME, the changes to that model (deleted models too, by\n"
        "the name they had); without, the changes to every model. The options narrow the\n"
        "list and combine with AND.\n\n"
        "With --as-of, show instead the model as it was at that moment: which versions\n"
        "held each stage, where each alias pointed, and every version's stage and status.\n\n"
        + _TIMES
        + "\n\nKinds of change, for --kind:\n"
        + _KINDS
        + ".",
        [
            "registry history fraud-detector",
            "registry history fraud-detector --after 120 --limit 20",
            "registry history fraud-detector --alias champion --since 2026-03-01",
            "registry history fraud-detector --version 3 --kind version_stage_changed",
            "registry history --actor ci-bot --since 2026-03-01T00:00Z --until 2026-03-02",
            'registry history fraud-detector --as-of "2026-03-01 10:00"',
            "registry --output json history fraud-detector --as-of 1772359200000",
        ],
        check=check_history,
    )
    p.add_argument(
        "name", metavar="NAME", nargs="?", default=None, help="model name (default: every model)"
    )
    p.add_argument(
        "--version",
        type=positive_int,
        default=None,
        metavar="N",
        help="only changes to version N (needs NAME)",
    )
    p.add_argument("--alias", metavar="ALIAS", help="only moves and deletions of this alias")
    p.add_argument(
        "--kind",
        dest="kinds",
        action="append",
        metavar="KIND",
        help="only changes of this kind (e.g. alias_set); repeat for several",
    )
    p.add_argument(
        "--actor",
        dest="by_actor",
        metavar="ACTOR",
        help="only changes made by ACTOR (the global --actor, before the command, is who\nyou are)",
    )
    p.add_argument("--since", type=timestamp, metavar="TIME", help="only changes at or after TIME")
    p.add_argument("--until", type=timestamp, metavar="TIME", help="only changes before TIME")
    p.add_argument(
        "--after",
        type=non_negative_int,
        default=0,
        metavar="EVENT_ID",
        help="only events after this event id (to continue a listing)",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="show at most N events (default: all); the id to continue after goes to stderr",
    )
    p.add_argument(
        "--as-of",
        type=timestamp,
        default=None,
        metavar="TIME",
        help="show the model's stages and aliases as they were at TIME (needs NAME)",
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Epoch milliseconds below this (1973-03-03) are almost surely epoch seconds
# or a compact date (20260301) typed by mistake; refusing them beats silently
# asking about January 1970.
_MIN_EPOCH_MS = 10**11


def timestamp(text: str) -> int:
    """A moment on the command line -> epoch milliseconds.

    Accepts ISO-8601 (``2026-03-01``, ``2026-03-01T10:00``, ``2026-03-01
    10:00:00+02:00``, ``...Z``) or epoch milliseconds. A time without an
    offset is UTC, not the local zone: the same command then means the same
    moment on a laptop, a CI runner and a server.
    """
    value = text.strip()
    if value.isdigit():
        ms = int(value)
        if ms < _MIN_EPOCH_MS:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not epoch milliseconds (13 digits today); for epoch seconds "
                "append 000, for a date write it as 2026-03-01"
            )
        return ms
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time such as 2026-03-01T10:00 or epoch milliseconds, "
            f"got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Integer arithmetic: float timestamps can be off by a millisecond.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_EVENT_FILTERS = (
    ("--version", "version"),
    ("--alias", "alias"),
    ("--kind", "kinds"),
    ("--actor", "by_actor"),
    ("--since", "since"),
    ("--until", "until"),
    ("--after", "after"),
    ("--limit", "limit"),
)


def check_history(a: argparse.Namespace) -> str | None:
    """--as-of answers a different question (a state, not a list of changes),
    so the list's filters mean nothing with it; say so instead of ignoring them."""
    if a.as_of is not None:
        if not a.name:
            return "--as-of needs NAME: the state of which model?"
        given = [flag for flag, dest in _EVENT_FILTERS if getattr(a, dest)]
        if given:
            return f"--as-of shows a past state; it cannot be combined with {', '.join(given)}"
    elif a.version and not a.name:
        return "--version needs NAME"
    return None


def history(c: RegistryClient, a: argparse.Namespace) -> Result:
    if a.as_of is not None:
        return _state_as_of(c, a)
    page_size = min(a.limit, 1000) if a.limit else 0
    events = c.iter_model_events(
        a.name or "",
        after_event_id=a.after,
        page_size=page_size,
        version=a.version or 0,
        alias=a.alias or "",
        kinds=a.kinds or (),
        actor=a.by_actor or "",
        since=a.since,
        until=a.until,
    )
    if a.limit:
        # One event past the limit tells us whether more remain, so the
        # output can say where to continue.
        shown = list(itertools.islice(events, a.limit + 1))
        more = len(shown) > a.limit
        shown = shown[: a.limit]
    else:
        shown, more = list(events), False
    cursor = shown[-1].event_id if more else 0
    note = f"more events; to continue add: --after {cursor}" if more else ""
    return Result({"events": shown, "next_after_event_id": cursor}, events_table(shown), note)


def _state_as_of(c: RegistryClient, a: argparse.Namespace) -> Result:
    state = c.get_model_state_as_of(a.name, a.as_of)
    # "stages" is derived from "versions"; it is there because "what was in
    # Production" is the question scripts ask (jq .stages.Production).
    data = {**to_jsonable(state), "stages": stage_holders(state)}
    return Result(data, state_text(state))


def _change(event: ModelEvent) -> str:
    """``key=value`` for values that did not change (or just appeared or
    vanished, as on creation and deletion), ``key: old -> new`` otherwise."""

    def show(value: Any) -> str:
        return '""' if value == "" else clip_cell(value)

    parts = []
    one_sided = not event.before or not event.after
    for key in sorted({*event.before, *event.after}):
        before = event.before.get(key, EMPTY)
        after = event.after.get(key, EMPTY)
        if one_sided or before == after:
            value = after if key in event.after else before
            parts.append(f"{key}={show(value)}")
        else:
            parts.append(f"{key}: {show(before)} -> {show(after)}")
    return "; ".join(parts)


def events_table(events: Sequence[ModelEvent]) -> str:
    # The model column only when it tells something: a listing across models,
    # or one model renamed within the listed period.
    with_model = len({e.model_name for e in events}) > 1
    headers = ["EVENT", "TIME", "ACTOR", "KIND", "VERSION", "CHANGE"]
    if with_model:
        headers.insert(3, "MODEL")
    body = []
    for e in events:
        row = [
            str(e.event_id),
            fmt_time(e.timestamp),
            e.actor,
            e.kind,
            str(e.version or ""),
            _change(e),
        ]
        if with_model:
            row.insert(3, e.model_name)
        body.append(row)
    return rows(headers, body, "(no events)", full_last=True)


#: Stages in the order people ask about them.
STAGES = ("Production", "Staging", "None", "Archived")


def stage_holders(state: ModelStateAsOf) -> dict[str, list[int]]:
    """Stage -> the versions in it at that moment, highest first; every stage present."""
    holders: dict[str, list[int]] = {stage: [] for stage in STAGES}
    for v in state.versions:
        holders.setdefault(v.current_stage, []).append(v.version)
    return {stage: sorted(held, reverse=True) for stage, held in holders.items()}


def state_text(state: ModelStateAsOf) -> str:
    pairs: list[tuple[str, Any]] = [
        ("model", state.name),
        ("as_of", fmt_time(state.as_of_timestamp)),
    ]
    pairs += [
        (stage, ", ".join(map(str, held)) or EMPTY) for stage, held in stage_holders(state).items()
    ]
    pairs += [("aliases", fmt_map(state.aliases)), ("last_event", state.last_event_id or "")]
    versions = rows(
        ("VERSION", "STAGE", "STATUS"),
        [
            (str(v.version), v.current_stage, v.status)
            for v in sorted(state.versions, key=lambda v: v.version)
        ],
        "(no versions then)",
    )
    return key_values(pairs) + "\n\n" + versions
