"""Conversions every aggregate's dataclasses share: timestamps, read-only
maps, tags and the version status enum."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _frozen_map(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Mapping[str, Any]:
    # A read-only view keeps the "frozen" promise: mutating a dict inside a
    # frozen dataclass would silently change a value shared with others.
    return MappingProxyType(dict(items))


# Read-only, so one empty view can be shared by every object without tags.
_NO_TAGS: Mapping[str, str] = MappingProxyType({})


def _tags(tags: Sequence[pb.Tag]) -> Mapping[str, str]:
    # Most versions carry no tags: skipping the generator and the dict for
    # them is a tenth of what converting a version costs.
    if not tags:
        return _NO_TAGS
    return _frozen_map((t.key, t.value) for t in tags)


# The enum's values carry its prefix (MODEL_VERSION_STATUS_READY); users see
# MLflow's names (READY), as they always have.
_STATUS_PREFIX = "MODEL_VERSION_STATUS_"


_STATUS_NAMES = {
    value: name.removeprefix(_STATUS_PREFIX) for name, value in pb.ModelVersionStatus.items()
}


def _status_name(value: int) -> str:
    # A status added to the API after this client was generated: keep the
    # number rather than failing the whole call.
    return _STATUS_NAMES.get(value) or str(value)
