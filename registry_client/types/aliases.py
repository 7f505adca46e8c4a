"""What moving an alias and resolving a ``models:/`` URI return."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client.types.versions import ModelVersion

__all__ = ["AliasMove", "ResolvedModel"]


@dataclass(frozen=True, slots=True)
class AliasMove:
    """The outcome of moving an alias: the version it now points at and the
    one it pointed at before (None when the alias was new)."""

    model_version: ModelVersion
    previous_version: int | None
    raw: pb.SetRegisteredModelAliasResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.SetRegisteredModelAliasResponse) -> AliasMove:
        return cls(
            model_version=ModelVersion._from_proto(msg.model_version),
            previous_version=msg.previous_version or None,
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """The result of resolving a ``models:/`` URI.

    ``resolved_uri`` is the pinned form (``models:/<name>/<version>[/<path>]``)
    worth recording wherever the model is used, since aliases and stages move.
    """

    model_version: ModelVersion
    path: str
    resolved_uri: str
    raw: pb.ResolveModelUriResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.ResolveModelUriResponse) -> ResolvedModel:
        return cls(
            model_version=ModelVersion._from_proto(msg.model_version),
            path=msg.path,
            resolved_uri=msg.resolved_uri,
            raw=msg,
        )
