"""The rule that keeps a watch cursor from skipping (events/horizon.py) and the
bounded mailbox of one stream (events/mailbox.py), on their own."""

from __future__ import annotations

from registry_server.domain.entities import ModelEvent
from registry_server.events.horizon import Horizon, Snapshot
from registry_server.events.mailbox import Closed, Mailbox
from registry_server.store.event_feed import FeedEvent


def snap(xmin: int) -> Snapshot:
    """A snapshot whose oldest running transaction id is `xmin`."""
    return Snapshot(xmin, xmin + 5, frozenset({xmin}))


def read(horizon: Horizon, snapshot: Snapshot, ids: list[int], bound: int, **kw: bool) -> int:
    """One feed read: advance, then hold what stays back with `bound` (the
    transaction id the feed would take after the read)."""
    value = horizon.advance(snapshot, ids, **kw)
    held = horizon.held_top(ids)
    if held is not None:
        horizon.hold(held, bound)
    return value


def test_snapshot_text_is_parsed() -> None:
    assert Snapshot.parse("10:15:10,12") == Snapshot(10, 15, frozenset({10, 12}))
    assert Snapshot.parse("7:7:") == Snapshot(7, 7, frozenset())


def test_an_unbroken_run_is_released_at_once() -> None:
    horizon = Horizon(10)
    assert read(horizon, snap(50), [11, 12, 13], bound=60) == 13
    assert not horizon.waiting


def test_a_gap_holds_back_what_follows_until_every_transaction_then_running_ended() -> None:
    horizon = Horizon(10)
    # 12 is missing: only 11 is final; 13 and 14 wait for transactions below 60.
    assert read(horizon, snap(50), [11, 13, 14], bound=60) == 11
    assert horizon.waiting
    # The oldest running transaction is 59 (< 60): still held.
    assert read(horizon, snap(59), [13, 14], bound=61) == 11
    # Everything below 60 ended (12 committed or never will): released.
    assert read(horizon, snap(60), [12, 13, 14], bound=62) == 14
    assert not horizon.waiting


def test_a_running_transaction_above_the_snapshots_xmax_still_holds() -> None:
    """The case a snapshot's own running list misses: nothing listed, yet a
    transaction that took its id after the newest completed one is running."""
    horizon = Horizon(57)
    quiet = Snapshot(785, 785, frozenset())
    assert read(horizon, quiet, [58, 60], bound=790) == 58
    assert read(horizon, Snapshot(786, 791, frozenset({786})), [60], bound=792) == 58
    assert read(horizon, Snapshot(791, 791, frozenset()), [59, 60], bound=793) == 60


def test_an_aborted_id_stops_holding_once_its_transaction_is_gone() -> None:
    horizon = Horizon(0)
    assert read(horizon, snap(7), [2, 3], bound=10) == 0
    assert read(horizon, snap(10), [2, 3, 5], bound=12) == 3  # 1 never committed
    assert read(horizon, snap(12), [5], bound=13) == 5


def test_a_truncated_read_releases_nothing_above_its_last_row() -> None:
    horizon = Horizon(0)
    assert read(horizon, snap(5), [1, 2, 4, 9], bound=6) == 2
    # The wait is over, but this read stopped at its limit at 4.
    assert read(horizon, snap(6), [4], bound=7, truncated=True) == 4
    assert read(horizon, snap(7), [9], bound=8) == 9


def test_sqlite_order_needs_no_snapshot() -> None:
    horizon = Horizon(3, ordered=True)
    assert horizon.advance(Snapshot.quiet(), [5, 8]) == 8
    assert horizon.held_top([5, 8]) is None


def feed_event(event_id: int, kind: str = "model_tag_set", alias: str | None = None) -> FeedEvent:
    event = ModelEvent(event_id, 0, "a", kind, "m", None, {}, {})
    return FeedEvent(event, 1, alias)


def test_a_mailbox_takes_what_matches_and_knows_where_it_is_complete() -> None:
    box = Mailbox(lambda e: e.event.kind == "alias_set", capacity=10)
    box.start_at(5)
    box.offer([feed_event(4, "alias_set"), feed_event(6), feed_event(7, "alias_set")], 9)
    taken, position = box.take(0)
    assert [e.event_id for e in taken] == [7]
    assert position == 9
    assert box.take(0) == ([], 9)


def test_a_full_mailbox_closes_and_tells_once() -> None:
    told: list[bool] = []
    box = Mailbox(lambda e: True, capacity=2)
    box.on_overflow = lambda: told.append(True)
    box.offer([feed_event(1), feed_event(2), feed_event(3)], 3)
    assert box.closed is Closed.OVERFLOW
    assert told == [True]
    assert box.take(0) == ([], 0)
    box.offer([feed_event(4)], 4)
    assert told == [True]
