"""Immutable Python views of the registry's protobuf entities.

Callers get plain frozen dataclasses instead of generated messages so that
their code does not depend on protobuf quirks (``HasField``, enum integers,
repeated ``Tag`` messages instead of dicts) and so that values are safe to
share, hash and compare. Each object keeps the message it was built from in
``raw`` as an escape hatch for fields added to the API after this client was
written; ``raw`` takes no part in equality or ``repr``.

Timestamps stay integer milliseconds, exactly as the server sends them (and
as MLflow does), so nothing is rounded; ``created_at``-style properties give
timezone-aware datetimes for display and arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb

__all__ = [
    "AccessToken",
    "AliasMove",
    "ArtifactDownloadUrls",
    "ArtifactFile",
    "ArtifactListing",
    "ArtifactUrl",
    "Dataset",
    "DownloadedModel",
    "EventPage",
    "Lineage",
    "ModelEvent",
    "ModelGrant",
    "ModelStateAsOf",
    "ModelVersion",
    "NewAccessToken",
    "RegisteredModel",
    "ResolvedModel",
    "SearchPage",
    "VersionLineage",
    "VersionState",
    "WhoAmI",
]

T = TypeVar("T")


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
class Dataset:
    """A data set a version was trained or evaluated on."""

    name: str
    digest: str = ""
    source_uri: str = ""
    raw: pb.DatasetReference | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.DatasetReference) -> Dataset:
        return cls(name=msg.name, digest=msg.digest, source_uri=msg.source_uri, raw=msg)

    def _to_proto(self) -> pb.DatasetReference:
        return pb.DatasetReference(name=self.name, digest=self.digest, source_uri=self.source_uri)


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a model version came from; also passed in when creating one.

    ``parent_model_uri`` may be given in any resolvable ``models:/`` form; the
    server pins it and returns ``models:/<name>/<version>``.
    """

    run_id: str = ""
    run_link: str = ""
    experiment_id: str = ""
    code_version: str = ""
    datasets: tuple[Dataset, ...] = ()
    parent_model_uri: str = ""
    raw: pb.Lineage | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept a list from callers building lineage by hand, but store a
        # tuple so the object stays immutable and hashable.
        if not isinstance(self.datasets, tuple):
            object.__setattr__(self, "datasets", tuple(self.datasets))

    @classmethod
    def _from_proto(cls, msg: pb.Lineage) -> Lineage:
        datasets = msg.datasets
        return cls(
            run_id=msg.run_id,
            run_link=msg.run_link,
            experiment_id=msg.experiment_id,
            code_version=msg.code_version,
            datasets=tuple(Dataset._from_proto(d) for d in datasets) if datasets else (),
            parent_model_uri=msg.parent_model_uri,
            raw=msg,
        )

    def _to_proto(self) -> pb.Lineage:
        return pb.Lineage(
            run_id=self.run_id,
            run_link=self.run_link,
            experiment_id=self.experiment_id,
            code_version=self.code_version,
            datasets=[d._to_proto() for d in self.datasets],
            parent_model_uri=self.parent_model_uri,
        )


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One numbered version of a registered model.

    ``status`` is the enum's name (``"READY"``, ``"PENDING_REGISTRATION"``,
    ``"FAILED_REGISTRATION"``) so it reads well in logs and JSON.
    """

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    source: str
    current_stage: str
    status: str
    status_message: str
    tags: Mapping[str, str] = field(hash=False)
    aliases: tuple[str, ...]
    lineage: Lineage
    created_by: str
    run_id: str
    #: True when the registry holds the files (``source`` is then the
    #: version's own ``models:/`` URI); download them with
    #: ``RegistryClient.download_artifacts``.
    registry_held_artifacts: bool = False
    raw: pb.ModelVersion | None = field(default=None, repr=False, compare=False)

    @property
    def created_at(self) -> datetime:
        return _ms_to_datetime(self.creation_timestamp)

    @property
    def updated_at(self) -> datetime:
        return _ms_to_datetime(self.last_updated_timestamp)

    @property
    def uri(self) -> str:
        """The immutable ``models:/`` URI of exactly this version."""
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def _from_proto(cls, msg: pb.ModelVersion) -> ModelVersion:
        """Searches convert a hundred of these per page: empty tags, aliases
        and datasets take shortcuts (11 -> 7.6 us per version, timeit)."""
        aliases = msg.aliases
        return cls(
            name=msg.name,
            version=msg.version,
            creation_timestamp=msg.creation_timestamp,
            last_updated_timestamp=msg.last_updated_timestamp,
            description=msg.description,
            source=msg.source,
            current_stage=msg.current_stage,
            status=_status_name(msg.status),
            status_message=msg.status_message,
            tags=_tags(msg.tags),
            aliases=tuple(aliases) if aliases else (),
            lineage=Lineage._from_proto(msg.lineage),
            created_by=msg.created_by,
            run_id=msg.run_id,
            registry_held_artifacts=msg.registry_held_artifacts,
            raw=msg,
        )


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


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One file of a version held by the registry: a manifest entry.

    ``path`` is relative POSIX (``"weights/model.bin"``), ``sha256`` lowercase
    hex. Build these yourself for ``finalize_model_version``, or let
    ``log_model_version`` compute them.
    """

    path: str
    size: int
    sha256: str
    raw: pb.ArtifactFile | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.ArtifactFile) -> ArtifactFile:
        return cls(path=msg.path, size=msg.size, sha256=msg.sha256, raw=msg)

    def _to_proto(self) -> pb.ArtifactFile:
        return pb.ArtifactFile(path=self.path, size=self.size, sha256=self.sha256)


@dataclass(frozen=True, slots=True)
class ArtifactListing:
    """The files of one version, with the exact version they belong to.

    When listed by URI, ``model_version`` is what the URI resolved to, and a
    path in the URI limits ``files`` to that file or folder. ``files`` is
    sorted by path.
    """

    model_version: ModelVersion
    files: tuple[ArtifactFile, ...]
    raw: pb.ListArtifactsResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.ListArtifactsResponse) -> ArtifactListing:
        return cls(
            model_version=ModelVersion._from_proto(msg.model_version),
            files=tuple(ArtifactFile._from_proto(f) for f in msg.files),
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class ArtifactUrl:
    """A presigned HTTP GET URL for one file."""

    file: ArtifactFile
    url: str = field(repr=False)  # carries a credential; keep it out of logs


@dataclass(frozen=True, slots=True)
class ArtifactDownloadUrls:
    """Presigned URLs for files of a READY version.

    ``supported`` is False (and ``urls`` empty) when the server's artifact
    store cannot presign; stream the files with ``download_artifact`` then.
    """

    supported: bool
    urls: tuple[ArtifactUrl, ...]
    raw: pb.GetArtifactDownloadUrlsResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.GetArtifactDownloadUrlsResponse) -> ArtifactDownloadUrls:
        return cls(
            supported=msg.supported,
            urls=tuple(ArtifactUrl(ArtifactFile._from_proto(u.file), u.url) for u in msg.urls),
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class DownloadedModel:
    """What ``download_artifacts`` put on disk.

    ``model_version`` is the exact version the URI resolved to; ``files`` its
    manifest entries that were requested (all of them, or those under the
    URI's path), each now at ``local_dir/<path>``. ``downloaded`` and
    ``skipped`` split their paths into fetched now and already present with
    the right content.
    """

    model_version: ModelVersion
    local_dir: str
    files: tuple[ArtifactFile, ...]
    downloaded: tuple[str, ...]
    skipped: tuple[str, ...]


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


def _role_name(value: int) -> str:
    """ "none", "reader", "writer" or "admin" (the wire enum without prefix)."""
    try:
        return pb.Role.Name(value).removeprefix("ROLE_").lower()
    except ValueError:
        return f"unknown({value})"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An access token as listed: never its secret."""

    token_id: int
    principal: str
    role: str
    description: str
    prefix: str
    creation_timestamp: int
    expiration_timestamp: int | None
    revocation_timestamp: int | None
    created_by: str
    raw: pb.AccessToken | None = field(default=None, repr=False, compare=False)

    @property
    def active(self) -> bool:
        now = datetime.now(tz=UTC).timestamp() * 1000
        expired = self.expiration_timestamp is not None and self.expiration_timestamp <= now
        return self.revocation_timestamp is None and not expired

    @classmethod
    def _from_proto(cls, msg: pb.AccessToken) -> AccessToken:
        return cls(
            token_id=msg.token_id,
            principal=msg.principal,
            role=_role_name(msg.role),
            description=msg.description,
            prefix=msg.prefix,
            creation_timestamp=msg.creation_timestamp,
            expiration_timestamp=msg.expiration_timestamp or None,
            revocation_timestamp=msg.revocation_timestamp or None,
            created_by=msg.created_by,
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class NewAccessToken:
    """A created token and its secret, which the server does not keep."""

    token: AccessToken
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ModelGrant:
    principal: str
    role: str


@dataclass(frozen=True, slots=True)
class WhoAmI:
    principal: str
    role: str
    authentication_required: bool
