"""Argument conversions several aggregates share: the client accepts what
MLflow users pass (string versions, tag dicts) and sends what the wire needs."""

from __future__ import annotations

from collections.abc import Mapping

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb


def _version_number(version: int | str) -> int:
    """Accept MLflow-style string versions ("3") as well as ints."""
    if isinstance(version, bool):
        raise TypeError("version must be an int or a numeric string, not bool")
    if isinstance(version, int):
        return version
    if isinstance(version, str) and version.strip().isdigit():
        return int(version)
    raise ValueError(f"version must be a positive integer, got {version!r}")


def _tag_messages(tags: Mapping[str, str] | None) -> list[pb.Tag]:
    return [pb.Tag(key=k, value=v) for k, v in (tags or {}).items()]
