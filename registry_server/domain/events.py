"""What the audit log calls each change, and the one payload both create paths share.

The values are the strings stored in `model_events.kind` and sent as
`ModelEvent.kind`: renaming a member is free, changing a value is a
migration and an API change.
"""

from __future__ import annotations

import enum
from typing import Any

from registry_server.domain.entities import Lineage, VersionStatus


class EventKind(enum.StrEnum):
    MODEL_CREATED = "model_created"
    MODEL_RENAMED = "model_renamed"
    MODEL_UPDATED = "model_updated"
    MODEL_DELETED = "model_deleted"
    MODEL_TAG_SET = "model_tag_set"
    MODEL_TAG_DELETED = "model_tag_deleted"
    VERSION_CREATED = "version_created"
    VERSION_UPDATED = "version_updated"
    VERSION_DELETED = "version_deleted"
    VERSION_STAGE_CHANGED = "version_stage_changed"
    VERSION_STATUS_CHANGED = "version_status_changed"
    VERSION_TAG_SET = "version_tag_set"
    VERSION_TAG_DELETED = "version_tag_deleted"
    ALIAS_SET = "alias_set"
    ALIAS_DELETED = "alias_deleted"
    # Access control; token_* events concern no model (model_id 0, name "").
    PROTECTION_CHANGED = "protection_changed"
    GRANT_SET = "grant_set"
    GRANT_DELETED = "grant_deleted"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    ACCESS_DENIED = "access_denied"
    # A model, version or alias brought in from another registry
    # (domain/imports.py): written at the import's time, with the original
    # creation time and creator in its payload.
    IMPORTED = "imported"


# Events that name an alias (`model_events.alias` is filled from their payload;
# of `imported` events only an alias's carries an "alias" key).
ALIAS_KINDS = frozenset({EventKind.ALIAS_SET, EventKind.ALIAS_DELETED, EventKind.IMPORTED})


def version_created(
    *,
    source: str,
    status: VersionStatus,
    lineage: Lineage,
    tags: dict[str, str],
    version: int | None = None,
) -> dict[str, Any]:
    """The `after` of a version_created event.

    `version` is None on PostgreSQL's one-statement create
    (store/new_version.py): the number is allocated inside that statement,
    which adds it to this payload there.
    """
    after: dict[str, Any] = {} if version is None else {"version": version}
    after.update(
        source=source,
        run_id=lineage.run_id,
        status=status.value,
        tags=tags,
        parent_model_uri=lineage.parent_model_uri,
    )
    return after
