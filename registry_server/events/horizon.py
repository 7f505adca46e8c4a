"""Which event ids are final: the rule that lets a watch cursor never skip.

On PostgreSQL event ids come from a sequence, drawn when the row is inserted,
and become visible when their transaction commits, which can be in another
order: id 12 can be visible while id 11 is still in flight and commits a
moment later. A reader that sent 12 and moved its cursor past it would never
send 11. So an id is released to watchers only once it is *final*: every id
at or below it is either visible or will never commit.

The proof, for a read at snapshot S that sees ids above the current horizon:

1. Ids up to the first one missing are all visible, hence final.
2. Let M be the largest id visible in S. Every id g < M that is missing was
   drawn before M was (the sequence only grows), hence before M's
   transaction committed, hence before S. Its transaction had a transaction
   id from before the draw (migration 0008 makes the default ask for one
   first). If that transaction had committed before S, g would be visible;
   so it had aborted (g never commits) or was still running. The feed then
   takes a transaction id B of its own (`pg_current_xact_id()` in a later
   statement): transaction ids are handed out in order, so every transaction
   that had one at S has one below B. Once a later snapshot's xmin (the
   oldest transaction id still running) is at least B, all of them have
   ended, and every id <= M is final.

Why not S's own list of running transactions: a snapshot lists only those
below its xmax, which is one past the newest *completed* one; a transaction
that took its id after that one and is still running is not listed at all
(it is "in progress" by being >= xmax). A first version of this rule missed
exactly that case under 8 concurrent writers.

SQLite needs none of this: one writer at a time holds the database lock from
its first write to its commit, so ids become visible in id order and the
largest visible id is the horizon (`Horizon(ordered=True)`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What `pg_current_snapshot()` says: xmin:xmax:xip."""

    xmin: int
    xmax: int
    in_progress: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    @classmethod
    def quiet(cls) -> Snapshot:
        """A snapshot with nothing in progress (SQLite, tests)."""
        return cls(0, 0, frozenset())


class Horizon:
    """The highest event id at or below which every id is final.

    `advance` is given each read's snapshot and the ids it saw above the
    current horizon (ascending) and returns the new horizon; the caller
    releases the ids it read up to it, and reads again from it next time.
    When ids stay held back (`held_top`), the caller takes a transaction id
    after the read and passes it to `hold`.
    """

    def __init__(self, start: int, *, ordered: bool = False) -> None:
        self.value = start
        self.ordered = ordered
        # (largest id seen, a transaction id taken after that read), oldest first.
        self._pending: deque[tuple[int, int]] = deque()

    @property
    def waiting(self) -> bool:
        """True while ids read are held back for transactions in flight: the
        caller should read again soon even if nothing wakes it."""
        return bool(self._pending)

    def advance(
        self, snapshot: Snapshot, visible: Sequence[int], *, truncated: bool = False
    ) -> int:
        """`truncated`: the read stopped at its row limit, so ids above its
        last one were not looked at and cannot be released yet."""
        top = visible[-1] if visible else self.value
        if self.ordered:
            self.value = max(self.value, top)
            return self.value
        # (2) for earlier reads whose transactions in flight have all ended.
        for largest, bound in self._pending:
            if snapshot.xmin >= bound:
                self.value = max(self.value, min(largest, top) if truncated else largest)
        while self._pending and self._pending[0][0] <= self.value:
            self._pending.popleft()
        # (1) the unbroken run just above the horizon.
        for event_id in visible:
            if event_id <= self.value:
                continue
            if event_id != self.value + 1:
                break
            self.value = event_id
        return self.value

    def held_top(self, visible: Sequence[int]) -> int | None:
        """The largest id of this read still held back and not yet waited
        for, if any: the caller then calls `hold` with a fresh bound."""
        if not visible or visible[-1] <= self.value or self.ordered:
            return None
        if self._pending and self._pending[-1][0] >= visible[-1]:
            return None
        return visible[-1]

    def hold(self, top: int, bound: int) -> None:
        self._pending.append((top, bound))
