"""The unit of work every mutation runs in: lock, clock, authorise, change, record.

Each order matters and is kept here once instead of by every operation:
- the model's row lock comes first, so all changes to one model and its
  versions are serialised in the database (race-free under READ COMMITTED
  on PostgreSQL, and on SQLite) while different models proceed in parallel;
- the clock is read after the lock, so on one model the order of event times
  is the order of commits (domain/clock.py);
- the access decision is taken inside the transaction, after the lock, so it
  sees the grants and protections the change will be made under
  (domain/access.py);
- the events are written in the change's own transaction, at its end: the
  history never shows a change that was not committed, nor misses one that
  was. They go in as one INSERT, however many there are.

A change that records events without having been authorised is a
programming error and fails before anything is committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Connection, Row

from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.entities import Stage
from registry_server.domain.errors import NotFound
from registry_server.domain.events import EventKind
from registry_server.store import events, models, versions
from registry_server.store.database import Database

if TYPE_CHECKING:
    from registry_server.domain.access import AccessControl, Caller, Role

Locked = TypeVar("Locked")


def version_label(name: str, version: int) -> str:
    return f"version {version} of registered model {name!r}"


class Change(Generic[Locked]):
    """One mutation in progress: its connection, the locked model, its time,
    and the events it has recorded so far."""

    __slots__ = (
        "_access",
        "_authorised",
        "_events",
        "actor",
        "caller",
        "conn",
        "locked",
        "model_id",
        "model_name",
        "now",
    )

    def __init__(
        self,
        conn: Connection,
        access: AccessControl | None,
        caller: Caller | None,
        actor: str,
        model_id: int,
        model_name: str,
        now: int,
        locked: Locked,
    ) -> None:
        self.conn = conn
        self._access = access
        self.caller = caller
        self.actor = actor
        self.model_id = model_id
        self.model_name = model_name
        self.now = now
        self.locked = locked
        self._authorised = caller is None
        self._events: list[dict[str, Any]] = []

    # ---------------------------------------------------------- authorise

    def _decide(self) -> tuple[AccessControl, Caller]:
        assert self._access is not None and self.caller is not None
        self._authorised = True
        return self._access, self.caller

    def authorise(self, needed: Role, action: str) -> None:
        access, caller = self._decide()
        access.require(self.conn, caller, self.model_id, self.model_name, needed, action)

    def authorise_alias_change(self, alias: str, action: str) -> None:
        access, caller = self._decide()
        access.require_alias_change(
            self.conn, caller, self.model_id, self.model_name, alias, action
        )

    def authorise_stage_change(self, stages: Sequence[Stage], action: str) -> None:
        access, caller = self._decide()
        access.require_stage_change(
            self.conn, caller, self.model_id, self.model_name, list(stages), action
        )

    # ------------------------------------------------------ change, record

    def touch_model(self) -> None:
        """Mark the model as changed now (its last_updated_timestamp)."""
        models.touch(self.conn, self.model_id, self.now)

    def record(
        self,
        kind: EventKind,
        *,
        version: int | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        model_name: str | None = None,
    ) -> None:
        """An event, written with the change when the unit of work ends."""
        self._events.append(
            events.row(
                model_id=self.model_id,
                model_name=self.model_name if model_name is None else model_name,
                kind=kind,
                actor=self.actor,
                now=self.now,
                version=version,
                before=before,
                after=after,
            )
        )

    def _finish(self) -> None:
        if not self._authorised:
            raise AssertionError("a change must be authorised before it commits")
        events.insert(self.conn, self._events)


class UnitOfWork:
    """Opens changes. `clock` is what every change's time is read from."""

    def __init__(self, db: Database, access: AccessControl | None, clock: Clock = now_ms) -> None:
        self.db = db
        self.access = access
        self.clock = clock

    @contextmanager
    def _locked(
        self,
        conn: Connection,
        caller: Caller,
        model_id: int,
        name: str,
        locked: Locked,
        authorise: tuple[Role, str] | None,
        now: int | None = None,
    ) -> Iterator[Change[Locked]]:
        """The steps after the lock: the time (read now, unless the locking
        statement decided it), the decision, the block, the events."""
        now = self.clock() if now is None else now
        change = Change(conn, self.access, caller, caller.principal, model_id, name, now, locked)
        if authorise is not None:
            change.authorise(*authorise)
        yield change
        change._finish()

    @contextmanager
    def model(
        self, name: str, caller: Caller, authorise: tuple[Role, str] | None
    ) -> Iterator[Change[Row[Any]]]:
        """A change to the model `name`, read in full (its row) as it is
        locked. With `authorise` None the block authorises itself (alias
        changes: Change.authorise_alias_change)."""
        with self.db.write() as conn:
            row = models.lock(conn, name)
            with self._locked(conn, caller, row.id, name, row, authorise) as change:
                yield change

    @contextmanager
    def version(
        self, name: str, version: int, caller: Caller, authorise: tuple[Role, str]
    ) -> Iterator[Change[versions.VersionRow]]:
        """A change to a version: the model locked, then the version's bare row."""
        with self.db.write() as conn:
            found = versions.lock_and_locate(conn, name, version)
            if found is None:
                raise NotFound(f"registered model {name!r} not found")
            model, row = found
            if row is None:
                # Whether a version exists is only said to who may change
                # it (a hidden model's answer is "model not found").
                self._authorise_missing(conn, caller, model.id, name, authorise)
                raise NotFound(f"{version_label(name, version)} not found")
            with self._locked(conn, caller, model.id, name, row, authorise) as change:
                yield change

    def _authorise_missing(
        self, conn: Connection, caller: Caller, model_id: int, name: str, needed: tuple[Role, str]
    ) -> None:
        """Before saying what a model lacks: refuse as the change would be."""
        if self.access is not None:
            self.access.require(conn, caller, model_id, name, *needed)

    @contextmanager
    def full_version(
        self, name: str, version: int, caller: Caller, needed: tuple[Role, str]
    ) -> Iterator[Change[versions.LockedVersion]]:
        """A change that answers with the version: the model locked, then the
        version read in full. The block authorises itself (alias and stage
        changes depend on what they change); `needed` is the least it needs,
        checked before a missing version is reported."""
        with self.db.write() as conn:
            found = versions.lock_and_get(conn, name, version)
            if found is None:
                row = models.require(conn, name)
                self._authorise_missing(conn, caller, row.id, name, needed)
                raise NotFound(f"{version_label(name, version)} not found")
            with self._locked(conn, caller, found.model_id, name, found, None) as change:
                yield change

    @contextmanager
    def new_version(
        self, name: str, caller: Caller, idempotency_key: str | None, authorise: tuple[Role, str]
    ) -> Iterator[Change[models.Allocation]]:
        """A version's creation: the lock, the counter bump and the
        idempotency key's lookup are one statement (store/models.py), which
        also takes the time: the clock's, or the model's last change if that
        is later, decided under the lock."""
        with self.db.write() as conn:
            allocated = models.lock_and_allocate(conn, name, self.clock(), idempotency_key)
            if allocated is None:
                raise NotFound(f"registered model {name!r} not found")
            model_id, now = allocated.model_id, allocated.now
            with self._locked(conn, caller, model_id, name, allocated, authorise, now) as change:
                yield change

    @contextmanager
    def unlocked(
        self, actor: str, model_id: int = 0, model_name: str = ""
    ) -> Iterator[Change[None]]:
        """A change no model lock serialises: a new model (the block sets its
        id), an access token, a refused call's record. Its caller authorised
        it before, by a global role or by having database access (the
        server's CLI)."""
        with self.db.write() as conn:
            change = Change(conn, None, None, actor, model_id, model_name, self.clock(), None)
            yield change
            change._finish()
