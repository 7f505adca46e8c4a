"""What the audit log calls each change, and the one payload both create paths share.

The values are the strings stored in `model_events.kind` and sent as
`ModelEvent.kind`: renaming a member is free, changing a value is a
migration and an API change.
"""

from __future__ import annotations

import enum
import hashlib
import json
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
    # Webhook administration (domain/webhooks.py); like token_* events they
    # concern no model and are shown to global admins only.
    WEBHOOK_CREATED = "webhook_created"
    WEBHOOK_UPDATED = "webhook_updated"
    WEBHOOK_DELETED = "webhook_deleted"
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


# -- bounded payloads ------------------------------------------------------------
#
# An event records what changed, not arbitrarily large values: one 3 MiB
# CreateModelVersion once stored an 18.9 MB event, and a ListModelEvents page
# holding it could never be sent (over the 16 MiB message limit). A string
# longer than MAX_EVENT_VALUE_BYTES (UTF-8), and then any top-level entry of
# `before`/`after` whose JSON is longer than MAX_EVENT_ENTRY_BYTES, is stored
# as a summary: its length, its sha256 and its first characters. Events
# stored before this rule are summarised the same way when read.

#: Strings longer than this (bytes of UTF-8) are summarised.
MAX_EVENT_VALUE_BYTES = 4096
#: A top-level payload entry whose JSON is longer than this is summarised
#: whole (a tag map of 100 tags within the 256 KiB tag budget stays whole).
MAX_EVENT_ENTRY_BYTES = 512 * 1024
#: Characters of a summarised value kept for people reading the history.
EVENT_SUMMARY_PREFIX_CHARS = 200


def _summary(encoded: bytes, prefix: str, entries: int | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "summarized": True,
        "bytes": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
        "prefix": prefix[:EVENT_SUMMARY_PREFIX_CHARS],
    }
    if entries is not None:
        summary["entries"] = entries
    return summary


def _bounded_value(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) * 4 <= MAX_EVENT_VALUE_BYTES:
            return value  # short enough whatever its characters
        encoded = value.encode("utf-8", "surrogatepass")
        return value if len(encoded) <= MAX_EVENT_VALUE_BYTES else _summary(encoded, value)
    if isinstance(value, dict):
        return {k: _bounded_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded_value(v) for v in value]
    return value


def bounded_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` (an event's before or after) with large values summarised
    (see MAX_EVENT_VALUE_BYTES); small payloads are returned as they are."""
    if not payload:
        return payload
    result = {}
    for key, value in payload.items():
        value = _bounded_value(value)
        if isinstance(value, dict | list):
            encoded = json.dumps(value, sort_keys=True).encode()
            if len(encoded) > MAX_EVENT_ENTRY_BYTES:
                value = _summary(encoded, encoded[:800].decode("utf-8", "ignore"), len(value))
        result[key] = value
    return result
