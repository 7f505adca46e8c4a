"""The model history: filtered event listings and point-in-time state.

Both read the audit log only. The log is written in the same transaction as
every change (domain/_change.py), so replaying a model's events in id order
rebuilds exactly the state the tables held after each of them; no snapshot
table is needed, and the answer for a past moment can never disagree with
what ListModelEvents shows for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_

from registry_server.domain import validation
from registry_server.domain.access import AccessControl, Caller
from registry_server.domain.entities import (
    EventPage,
    EventQuery,
    ModelEvent,
    ModelStateAsOf,
    Stage,
    VersionState,
    VersionStatus,
)
from registry_server.domain.errors import InvalidArgument, NotFound
from registry_server.domain.events import EventKind
from registry_server.store import events
from registry_server.store.database import Database

# The kinds that change what GetModelStateAsOf reports (name, versions'
# stage and status, aliases, existence). Tags and descriptions are not part
# of the rebuilt state, so their events are not even fetched.
STATE_KINDS = frozenset(
    {
        EventKind.MODEL_CREATED,
        EventKind.MODEL_RENAMED,
        EventKind.MODEL_DELETED,
        EventKind.VERSION_CREATED,
        EventKind.VERSION_STAGE_CHANGED,
        EventKind.VERSION_STATUS_CHANGED,
        EventKind.VERSION_DELETED,
        EventKind.ALIAS_SET,
        EventKind.ALIAS_DELETED,
        EventKind.IMPORTED,
    }
)


def _no_history(name: str) -> NotFound:
    return NotFound(f"registered model {name!r} not found and has no history")


class HistoryService:
    """ListModelEvents and GetModelStateAsOf: read-only, one transaction each."""

    def __init__(self, db: Database, access: AccessControl | None = None) -> None:
        self.db = db
        self.access = access or AccessControl(db)

    # ------------------------------------------------------------- listings

    def list_events(self, query: EventQuery, caller: Caller) -> EventPage:
        """One page of the events matching every filter, oldest first.

        It shows no more than the listings do: token events to global admins
        only, grant events to who may list the model's grants (admin on it).

        A name designates the live model of that name, else the last deleted
        model that had it (history outlives the model); NOT_FOUND only when
        neither exists, not when the filters merely match nothing.
        """
        limit = self._check(query)
        with self.db.read() as conn:
            _, restrict = self._scope(conn, query, caller)
            found = events.page(conn, query, limit + 1, restrict)
        more = len(found) > limit
        found = found[:limit]
        return EventPage(tuple(found), found[-1].event_id if more else 0)

    def watch_scope(
        self, query: EventQuery, caller: Caller
    ) -> tuple[int | None, ColumnElement[bool] | None, ColumnElement[bool] | None]:
        """For WatchModelEvents: the same checks and refusals as
        list_events, then (the model id the name designates, if any; the
        caller's restriction on events; the same restriction for every
        model, for events of other models created under the name later)."""
        self._check(query)
        with self.db.read() as conn:
            model_id, restrict = self._scope(conn, query, caller)
        everywhere = self.access.read_restriction(caller, events.MODEL_ID)
        shown = self.access.event_restriction(caller)
        if shown is not None:
            everywhere = shown if everywhere is None else and_(everywhere, shown)
        return model_id, restrict, everywhere

    def _scope(
        self, conn: Connection, query: EventQuery, caller: Caller
    ) -> tuple[int | None, ColumnElement[bool] | None]:
        """The model a name designates (refusing a missing or unreadable one
        as NOT_FOUND) and the SQL restriction of what the caller may see."""
        model_id = None
        restrict = None
        if query.name:
            model_id = events.model_id_for_name(conn, query.name)
            if model_id is None:
                raise _no_history(query.name)
            self.access.require_read(conn, caller, model_id, query.name, _no_history(query.name))
        else:
            restrict = self.access.read_restriction(caller, events.MODEL_ID)
        shown = self.access.event_restriction(caller)
        if shown is not None:
            restrict = shown if restrict is None else and_(restrict, shown)
        return model_id, restrict

    @staticmethod
    def _check(query: EventQuery) -> int:
        """Shape checks before any SQL; returns the effective page size."""
        if query.name:
            validation.model_name(query.name)
        if query.version:
            if query.version < 0:
                raise InvalidArgument(f"version: must be a positive integer, got {query.version}")
            if not query.name:
                raise InvalidArgument(
                    "version: filtering by version requires name (version numbers are per model)"
                )
        if query.alias:
            validation.alias(query.alias)
        for index, kind in enumerate(query.kinds):
            if kind not in events.EVENT_KINDS:
                known = ", ".join(sorted(EventKind))
                raise InvalidArgument(
                    f"kinds[{index}]: {kind[:100]!r} is not an event kind; known kinds: {known}"
                )
        if query.actor:
            validation.short(query.actor, "actor")
        if query.since_ms < 0:
            raise InvalidArgument(f"since_timestamp must not be negative, got {query.since_ms}")
        if query.until_ms < 0:
            raise InvalidArgument(f"until_timestamp must not be negative, got {query.until_ms}")
        if query.since_ms and query.until_ms and query.since_ms >= query.until_ms:
            raise InvalidArgument(
                f"until_timestamp ({query.until_ms}) must be after since_timestamp "
                f"({query.since_ms}): the range is since (inclusive) to until (exclusive)"
            )
        if query.after_event_id < 0:
            raise InvalidArgument("after_event_id must not be negative")
        return validation.page_size(query.page_size)

    # ------------------------------------------------------- point in time

    def state_as_of(self, name: str, as_of_ms: int, caller: Caller) -> ModelStateAsOf:
        """The model's name, versions (stage, status) and aliases as they were
        after every change committed at or before `as_of_ms`.

        The model is the one `name` designates now (live, else last deleted
        under that name), as for ListModelEvents. NOT_FOUND when there is no
        such model, when it was created after `as_of_ms`, or when it had
        already been deleted then: a deleted model has no state, and an empty
        answer would read as "existed with no versions".
        """
        validation.model_name(name)
        if as_of_ms <= 0:
            raise InvalidArgument(
                f"as_of_timestamp must be a positive number of ms since the epoch, got {as_of_ms}"
            )
        with self.db.read() as conn:
            model_id = events.model_id_for_name(conn, name)
            if model_id is None:
                raise _no_history(name)
            self.access.require_read(conn, caller, model_id, name, _no_history(name))
            replayed, last_event_id = events.replay(conn, name, as_of_ms, STATE_KINDS)
            if not replayed:
                if events.model_id_for_name(conn, name) is None:
                    raise _no_history(name)
                created = events.first_event_time(conn, name)
                since = f" (created at {created})" if created is not None else ""
                raise NotFound(
                    f"as_of_timestamp: registered model {name!r} did not exist yet at "
                    f"{as_of_ms}{since}"
                )
        state = _Replay()
        for event in replayed:
            state.apply(event)
        if state.deleted_at is not None:
            raise NotFound(
                f"as_of_timestamp: registered model {name!r} was deleted at {state.deleted_at}, "
                f"before {as_of_ms}; ListModelEvents still shows its history"
            )
        return ModelStateAsOf(
            name=state.name or name,
            as_of_ms=as_of_ms,
            versions=tuple(state.versions[v] for v in sorted(state.versions)),
            aliases=dict(sorted(state.aliases.items())),
            last_event_id=last_event_id,
        )


@dataclass
class _Replay:
    """The state machine GetModelStateAsOf runs over a model's events.

    Each kind mirrors what the Registry method that records it did to the
    tables. It is lenient on purpose: an event about a version it has not
    seen (possible only if the log was edited by hand) updates what it can
    instead of failing the whole question.
    """

    name: str = ""
    deleted_at: int | None = None

    def __post_init__(self) -> None:
        self.versions: dict[int, VersionState] = {}
        self.aliases: dict[str, int] = {}

    def apply(self, event: ModelEvent) -> None:
        kind, version = event.kind, event.version
        if kind in (EventKind.MODEL_CREATED, EventKind.MODEL_RENAMED):
            self.name = str(event.after.get("name") or event.model_name)
        elif kind == EventKind.MODEL_DELETED:
            self.deleted_at = event.timestamp
        elif kind == EventKind.VERSION_CREATED and version is not None:
            # Versions created before registry-held artifacts existed were
            # READY from the start and their events carry no status.
            status = event.after.get("status", VersionStatus.READY.value)
            self.versions[version] = VersionState(version, Stage.NONE, VersionStatus(status))
        elif kind == EventKind.VERSION_STAGE_CHANGED and version in self.versions:
            stage = Stage(event.after["stage"])
            self.versions[version] = VersionState(version, stage, self.versions[version].status)
        elif kind == EventKind.VERSION_STATUS_CHANGED and version in self.versions:
            status = VersionStatus(event.after["status"])
            self.versions[version] = VersionState(version, self.versions[version].stage, status)
        elif kind == EventKind.VERSION_DELETED and version is not None:
            self.versions.pop(version, None)
            # Registry records alias_deleted events first; this only guards
            # against a log without them.
            self.aliases = {a: v for a, v in self.aliases.items() if v != version}
        elif kind == EventKind.ALIAS_SET:
            self.aliases[str(event.after["alias"])] = int(event.after["version"])
        elif kind == EventKind.ALIAS_DELETED:
            self.aliases.pop(str(event.before.get("alias")), None)
        elif kind == EventKind.IMPORTED:
            self._apply_import(event)

    def _apply_import(self, event: ModelEvent) -> None:
        """An `imported` event (domain/imports.py): the model, a version as
        it was imported (with its stage), or an alias."""
        what, after = event.after.get("imported"), event.after
        if what == "registered_model":
            self.name = str(after.get("name") or event.model_name)
        elif what == "model_version" and event.version is not None:
            self.versions[event.version] = VersionState(
                event.version,
                Stage(after.get("stage", Stage.NONE.value)),
                VersionStatus(after.get("status", VersionStatus.READY.value)),
            )
        elif what == "alias":
            self.aliases[str(after["alias"])] = int(after["version"])
