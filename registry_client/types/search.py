"""Search pages and lineage graphs: results that span models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client.types.versions import ModelVersion

__all__ = ["SearchPage", "VersionLineage"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SearchPage(Generic[T]):
    """One page of search results.

    Iterates, indexes and has a length like the list it holds, and carries
    ``token`` like MLflow's ``PagedList``, so MLflow-style loops carry over:
    pass ``token`` as ``page_token`` for the next page; it is None on the
    last page.
    """

    items: tuple[T, ...]
    token: str | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


@dataclass(frozen=True, slots=True)
class VersionLineage:
    """A version with its ancestors and descendants through parent links.

    ``ancestors`` starts with the parent; ``descendants`` is nearest
    generation first, and each descendant's ``lineage.parent_model_uri``
    names the version it came from. ``truncated`` says the depth or size
    limit cut the answer short.
    """

    model_version: ModelVersion
    ancestors: tuple[ModelVersion, ...]
    descendants: tuple[ModelVersion, ...]
    truncated: bool
    raw: pb.GetModelVersionLineageResponse | None = field(default=None, repr=False, compare=False)

    def children_of(self, name: str, version: int) -> tuple[ModelVersion, ...]:
        """The descendants derived directly from ``models:/<name>/<version>``."""
        parent = f"models:/{name}/{version}"
        return tuple(d for d in self.descendants if d.lineage.parent_model_uri == parent)

    @classmethod
    def _from_proto(cls, msg: pb.GetModelVersionLineageResponse) -> VersionLineage:
        return cls(
            model_version=ModelVersion._from_proto(msg.model_version),
            ancestors=tuple(ModelVersion._from_proto(v) for v in msg.ancestors),
            descendants=tuple(ModelVersion._from_proto(v) for v in msg.descendants),
            truncated=msg.truncated,
            raw=msg,
        )
