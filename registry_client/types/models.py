"""Registered models: the named containers of numbered versions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client.types._common import _frozen_map, _ms_to_datetime, _tags
from registry_client.types.versions import ModelVersion

__all__ = ["RegisteredModel"]


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model: a container of numbered versions.

    ``latest_versions`` holds the highest version per stage (filled by
    ``get_registered_model`` and searches). ``protected_aliases`` and
    ``protected_stages`` (only admins of the model may move them) are filled
    by ``get_registered_model`` and ``set_model_protection``.
    """

    name: str
    description: str
    creation_timestamp: int
    last_updated_timestamp: int
    tags: Mapping[str, str] = field(hash=False)
    aliases: Mapping[str, int] = field(hash=False)
    latest_versions: tuple[ModelVersion, ...]
    last_version: int
    created_by: str
    protected_aliases: tuple[str, ...] = ()
    protected_stages: tuple[str, ...] = ()
    raw: pb.RegisteredModel | None = field(default=None, repr=False, compare=False)

    @property
    def created_at(self) -> datetime:
        return _ms_to_datetime(self.creation_timestamp)

    @property
    def updated_at(self) -> datetime:
        return _ms_to_datetime(self.last_updated_timestamp)

    @classmethod
    def _from_proto(cls, msg: pb.RegisteredModel) -> RegisteredModel:
        return cls(
            name=msg.name,
            description=msg.description,
            creation_timestamp=msg.creation_timestamp,
            last_updated_timestamp=msg.last_updated_timestamp,
            tags=_tags(msg.tags),
            aliases=_frozen_map((a.alias, a.version) for a in msg.aliases),
            latest_versions=tuple(ModelVersion._from_proto(v) for v in msg.latest_versions),
            last_version=msg.last_version,
            created_by=msg.created_by,
            protected_aliases=tuple(msg.protected_aliases),
            protected_stages=tuple(msg.protected_stages),
            raw=msg,
        )
