"""A model's recorded changes, and its state at a past moment."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._args import _version_number
from registry_client._errors import Internal
from registry_client._transport import Transport
from registry_client.types import EventPage, ModelEvent, ModelStateAsOf


def _epoch_ms(value: datetime | int | None, name: str) -> int:
    """Timestamps go over the wire as epoch ms; accept aware datetimes too.

    A naive datetime is refused: guessing its zone would silently shift a
    point-in-time question ("what was Production at 10:00?") by hours.
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a datetime or epoch milliseconds, not bool")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (e.g. tzinfo=datetime.UTC)")
        return int(value.timestamp() * 1000)
    raise TypeError(f"{name} must be a datetime or epoch milliseconds, got {value!r}")


class HistoryMixin(Transport):
    def list_model_events(
        self,
        name: str = "",
        *,
        after_event_id: int = 0,
        page_size: int = 0,
        version: int | str = 0,
        alias: str = "",
        kinds: Sequence[str] = (),
        actor: str = "",
        since: datetime | int | None = None,
        until: datetime | int | None = None,
    ) -> EventPage:
        """One page of recorded changes, oldest first.

        ``name`` "" lists changes to every model; a deleted model's history
        is found by the name it had. The other filters narrow the page (all
        must hold): ``version`` (needs ``name``), ``alias``, ``kinds`` (e.g.
        ``["alias_set", "version_stage_changed"]``), ``actor``, and the time
        range ``since`` (inclusive) to ``until`` (exclusive), as aware
        datetimes or epoch ms. ``page_size`` 0 lets the server choose (100).
        """
        request = pb.ListModelEventsRequest(
            name=name,
            after_event_id=after_event_id,
            page_size=page_size,
            version=_version_number(version) if version else 0,
            alias=alias,
            kinds=list(kinds),
            actor=actor,
            since_timestamp=_epoch_ms(since, "since"),
            until_timestamp=_epoch_ms(until, "until"),
        )
        response = self._call("ListModelEvents", request)
        return EventPage._from_proto(response)

    def iter_model_events(
        self,
        name: str = "",
        *,
        after_event_id: int = 0,
        page_size: int = 0,
        version: int | str = 0,
        alias: str = "",
        kinds: Sequence[str] = (),
        actor: str = "",
        since: datetime | int | None = None,
        until: datetime | int | None = None,
    ) -> Iterator[ModelEvent]:
        """All matching events after ``after_event_id``, fetching pages lazily."""
        cursor = after_event_id
        while True:
            page = self.list_model_events(
                name,
                after_event_id=cursor,
                page_size=page_size,
                version=version,
                alias=alias,
                kinds=kinds,
                actor=actor,
                since=since,
                until=until,
            )
            yield from page.events
            if page.next_after_event_id == 0:
                return
            if page.next_after_event_id <= cursor:
                # A cursor that does not advance would loop forever.
                raise Internal(
                    f"server returned a non-advancing cursor {page.next_after_event_id}"
                    f" after {cursor}"
                )
            cursor = page.next_after_event_id

    def get_model_state_as_of(self, name: str, as_of: datetime | int) -> ModelStateAsOf:
        """The model as it was at ``as_of`` (aware datetime or epoch ms):
        every version's stage and status, and every alias's target.

        E.g. ``state.version_in_stage("Production")`` or
        ``state.aliases["champion"]``.
        """
        request = pb.GetModelStateAsOfRequest(name=name, as_of_timestamp=_epoch_ms(as_of, "as_of"))
        response = self._call("GetModelStateAsOf", request)
        return ModelStateAsOf._from_proto(response)
