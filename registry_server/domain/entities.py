"""Plain domain objects: what the store returns and the API layer converts.

They are deliberately free of SQLAlchemy and protobuf so each layer can change
its representation without touching the rules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Stage(enum.StrEnum):
    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


STAGE_ORDER: tuple[Stage, ...] = (Stage.NONE, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED)


class VersionStatus(enum.StrEnum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    READY = "READY"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    digest: str = ""
    source_uri: str = ""


@dataclass(frozen=True, slots=True)
class Lineage:
    run_id: str = ""
    run_link: str = ""
    experiment_id: str = ""
    code_version: str = ""
    datasets: tuple[Dataset, ...] = ()
    parent_model_uri: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    model_id: int
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    source: str
    stage: Stage
    status: VersionStatus
    status_message: str
    created_by: str
    lineage: Lineage
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    registry_held: bool = False


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    id: int
    name: str
    description: str
    creation_timestamp: int
    last_updated_timestamp: int
    last_version: int
    created_by: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: tuple[ModelVersion, ...] = ()
    # Filled by GetRegisteredModel (not by searches).
    protected_aliases: tuple[str, ...] = ()
    protected_stages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelEvent:
    event_id: int
    timestamp: int
    actor: str
    kind: str
    model_name: str
    version: int | None
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewModelVersion:
    """What a caller asks for when creating a version (already shape-checked)."""

    name: str
    source: str
    description: str
    tags: dict[str, str]
    lineage: Lineage
    idempotency_key: str
    registry_held: bool = False


@dataclass(frozen=True, slots=True)
class CreatedVersion:
    version: ModelVersion
    idempotent_replay: bool


@dataclass(frozen=True, slots=True)
class AliasMove:
    version: ModelVersion
    previous_version: int | None


@dataclass(frozen=True, slots=True)
class EventPage:
    events: tuple[ModelEvent, ...]
    next_after_event_id: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset-paginated listing."""

    items: tuple[T, ...]
    # Opaque cursor for the next page; "" when this is the last page.
    next_page_token: str


@dataclass(frozen=True, slots=True)
class VersionLineage:
    version: ModelVersion
    # Parent first, then the parent's parent, ...
    ancestors: tuple[ModelVersion, ...]
    # Nearest generation first, then by name and version.
    descendants: tuple[ModelVersion, ...]
    truncated: bool


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters of ListModelEvents (already shape-checked); all combine with AND."""

    name: str = ""
    version: int = 0
    alias: str = ""
    kinds: tuple[str, ...] = ()
    actor: str = ""
    since_ms: int = 0
    until_ms: int = 0
    after_event_id: int = 0
    page_size: int = 100


@dataclass(frozen=True, slots=True)
class VersionState:
    version: int
    stage: Stage
    status: VersionStatus


@dataclass(frozen=True, slots=True)
class ModelStateAsOf:
    name: str
    as_of_ms: int
    versions: tuple[VersionState, ...]
    # alias -> version, sorted by alias.
    aliases: dict[str, int]
    last_event_id: int
