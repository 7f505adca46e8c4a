"""Lineage links into models the caller may not read, hidden in every answer.

A version's parent may be in another model. To a caller who may not read that
model, the link is shown without its name: `Lineage.parent_model_uri` empty
and `parent_hidden` set, in the version itself and in the `after` of its
`version_created` event. This is done here, on the response of every unary
RPC, so no RPC can forget it (as authentication is done for every RPC); it
costs nothing for callers whose global role reads every model, and one
lookup per distinct parent model for the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_server.domain import uri as uris
from registry_server.domain.access import AccessControl, Caller, Role
from registry_server.domain.errors import InvalidArgument
from registry_server.domain.events import EventKind


def _parts(message: Message) -> Iterator[Message]:
    """Every Lineage and version_created ModelEvent in `message`, at any depth."""
    for field, value in message.ListFields():
        kind = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or kind is None:
            continue
        if kind.GetOptions().map_entry:
            continue
        items = value if field.is_repeated else (value,)
        for item in items:
            if isinstance(item, pb.Lineage):
                if item.parent_model_uri:
                    yield item
            elif isinstance(item, pb.ModelEvent):
                if item.kind == EventKind.VERSION_CREATED:
                    yield item
            else:
                yield from _parts(item)


def _model_of(parent_uri: Any) -> str | None:
    if not isinstance(parent_uri, str) or not parent_uri:
        return None
    try:
        return uris.parse(parent_uri).name
    except InvalidArgument:
        return None


def hide_parents(response: Any, access: AccessControl, caller: Caller) -> None:
    """Blank, in place, the lineage parents `caller` may not see."""
    if caller.role >= Role.READER or not isinstance(response, Message):
        return
    found: list[tuple[Message, str, dict[str, Any] | None]] = []
    for part in _parts(response):
        if isinstance(part, pb.Lineage):
            name = _model_of(part.parent_model_uri)
            after = None
        else:
            assert isinstance(part, pb.ModelEvent)
            after = json.loads(part.after_json or "{}")
            name = _model_of(after.get("parent_model_uri"))
        if name is not None:
            found.append((part, name, after))
    hidden = access.hidden_models(caller, {name for _, name, _ in found})
    for part, name, after in found:
        if name not in hidden:
            continue
        if isinstance(part, pb.Lineage):
            part.parent_model_uri = ""
            part.parent_hidden = True
        elif isinstance(part, pb.ModelEvent) and after is not None:
            after.update(parent_model_uri="", parent_hidden=True)
            part.after_json = json.dumps(after, sort_keys=True)
