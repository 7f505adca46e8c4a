"""A model's recorded changes and its state at a past moment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client.types._common import _frozen_map, _ms_to_datetime, _status_name

__all__ = ["EventPage", "ModelEvent", "ModelStateAsOf", "VersionState"]


def _json_object(text: str) -> Mapping[str, Any]:
    """Parse an event's before/after JSON without ever failing the listing.

    The contract promises a JSON object ("{}" when absent). Anything else is
    kept under ``"_unparsed"`` so a single odd event cannot make a model's
    whole history unreadable, and the original text is still visible.
    """
    if not text:
        return _frozen_map({})
    try:
        value = json.loads(text)
    except ValueError:
        return _frozen_map({"_unparsed": text})
    if not isinstance(value, dict):
        return _frozen_map({"_unparsed": text})
    return _frozen_map(value)


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """One recorded change to a model.

    ``version`` is None for changes to the model itself (the wire uses 0,
    which is never a valid version number). ``before``/``after`` are the
    decoded JSON objects, e.g. ``{"stage": "Staging"}``.
    """

    event_id: int
    timestamp: int
    actor: str
    kind: str
    model_name: str
    version: int | None
    before: Mapping[str, Any] = field(hash=False)
    after: Mapping[str, Any] = field(hash=False)
    raw: pb.ModelEvent | None = field(default=None, repr=False, compare=False)

    @property
    def occurred_at(self) -> datetime:
        return _ms_to_datetime(self.timestamp)

    @classmethod
    def _from_proto(cls, msg: pb.ModelEvent) -> ModelEvent:
        return cls(
            event_id=msg.event_id,
            timestamp=msg.timestamp,
            actor=msg.actor,
            kind=msg.kind,
            model_name=msg.model_name,
            version=msg.version or None,
            before=_json_object(msg.before_json),
            after=_json_object(msg.after_json),
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of a model's history.

    ``next_after_event_id`` is the cursor for the next page, 0 when this was
    the last one.
    """

    events: tuple[ModelEvent, ...]
    next_after_event_id: int
    raw: pb.ListModelEventsResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.ListModelEventsResponse) -> EventPage:
        return cls(
            events=tuple(ModelEvent._from_proto(e) for e in msg.events),
            next_after_event_id=msg.next_after_event_id,
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class VersionState:
    """A version's stage and status at some moment in the past."""

    version: int
    current_stage: str
    status: str


@dataclass(frozen=True, slots=True)
class ModelStateAsOf:
    """A model as it was at ``as_of_timestamp``, rebuilt from its history."""

    name: str
    as_of_timestamp: int
    versions: tuple[VersionState, ...]
    aliases: Mapping[str, int] = field(hash=False)
    last_event_id: int
    raw: pb.GetModelStateAsOfResponse | None = field(default=None, repr=False, compare=False)

    @property
    def as_of(self) -> datetime:
        return _ms_to_datetime(self.as_of_timestamp)

    def version_in_stage(self, stage: str) -> int | None:
        """The highest version that was in ``stage`` (any case) then, if any."""
        wanted = stage.lower()
        held = [v.version for v in self.versions if v.current_stage.lower() == wanted]
        return max(held) if held else None

    @classmethod
    def _from_proto(cls, msg: pb.GetModelStateAsOfResponse) -> ModelStateAsOf:
        return cls(
            name=msg.name,
            as_of_timestamp=msg.as_of_timestamp,
            versions=tuple(
                VersionState(v.version, v.current_stage, _status_name(v.status))
                for v in msg.versions
            ),
            aliases=_frozen_map((a.alias, a.version) for a in msg.aliases),
            last_event_id=msg.last_event_id,
            raw=msg,
        )
