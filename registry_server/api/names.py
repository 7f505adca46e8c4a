"""Model names are read off the wire in one spelling: Unicode NFC.

"é" can be sent as one code point (U+00E9) or as "e" and a combining accent
(U+0065 U+0301); both look the same, and stored as they came they made two
models nobody could tell apart, one of them unreachable by the name people
type. So every request's model name fields (``name``, ``new_name``, and the
upload stream header's ``name``) are normalised to NFC as the request is
deserialised: before any handler, for every RPC, lookups included, with no
servicer or domain call able to forget it. URIs (``models:/<name>/...``) get
the same normalisation when they are parsed (domain/uri.py), and
``validation.model_name`` returns the NFC form too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

NAME_FIELDS = frozenset({"name", "new_name"})
# Messages nested in a request that carry the request's model name.
_NESTED = frozenset({"header"})

_Paths = tuple[tuple[str, ...], ...]
_paths_by_type: dict[str, _Paths] = {}


def _name_paths(descriptor: Descriptor) -> _Paths:
    paths: list[tuple[str, ...]] = []
    for field in descriptor.fields:
        if field.is_repeated:
            continue
        if field.type == FieldDescriptor.TYPE_STRING and field.name in NAME_FIELDS:
            paths.append((field.name,))
        elif field.message_type is not None and field.name in _NESTED:
            paths += [(field.name, *p) for p in _name_paths(field.message_type)]
    return tuple(paths)


def _normalise(message: Any) -> Any:
    descriptor = message.DESCRIPTOR
    paths = _paths_by_type.get(descriptor.full_name)
    if paths is None:
        paths = _paths_by_type[descriptor.full_name] = _name_paths(descriptor)
    for path in paths:
        holder = message
        for part in path[:-1]:
            if not holder.HasField(part):
                break
            holder = getattr(holder, part)
        else:
            value = getattr(holder, path[-1])
            if not value.isascii() and not unicodedata.is_normalized("NFC", value):
                setattr(holder, path[-1], unicodedata.normalize("NFC", value))
    return message


def nfc_names(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer``, with the model names of what it returns in NFC."""
    if deserializer is None:
        return None
    read = deserializer

    def deserialize(data: bytes) -> Any:
        return _normalise(read(data))

    return deserialize
