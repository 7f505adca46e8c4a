"""Hostile request generation and "did anything change?" snapshots.

Strategies are built from the protobuf descriptors, so every field of every
request message is fuzzed without a hand-written list that could fall behind
the .proto. A generated request is a *spec*: plain values plus ``Ref``/``Join``
placeholders for real names, versions, paths... of a fixture world that only
exists at run time. ``materialize`` turns a spec into the message against that
world. Mixing real values in matters: a request whose every field is garbage
only ever reaches the first shape check, while one hostile field beside valid
ones reaches the deeper code (locks, SQL, the artifact store).

Snapshots: a content hash of every table (so a rejected call that wrote
*anything*, anywhere, is caught, not only the rows the test knows about) and
the listing of the artifact folder or bucket.
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st
from minio import Minio
from minio.error import S3Error
from sqlalchemy import Engine, inspect, text

# ----------------------------------------------------------------- placeholders


@dataclass(frozen=True)
class Ref:
    """The ``index``-th (modulo) valid value of pool ``pool`` in the world."""

    pool: str
    index: int = 0


@dataclass(frozen=True)
class Join:
    """A hostile prefix/suffix around a valid value: ``'m-1' + "'; DROP..."``."""

    prefix: str
    ref: Ref
    suffix: str


@dataclass(frozen=True)
class Fresh:
    """A pool entry that resolves to a new unique name each time (a model
    name that is free, so a create can succeed more than once)."""

    prefix: str


Pools = Mapping[str, Sequence[Any]]


def resolve(value: Any, pools: Pools) -> Any:
    if isinstance(value, Ref):
        found = pools[value.pool]
        item = found[value.index % len(found)]
        return f"{item.prefix}-{uuid.uuid4().hex[:8]}" if isinstance(item, Fresh) else item
    if isinstance(value, Join):
        return f"{value.prefix}{resolve(value.ref, pools)}{value.suffix}"
    return value


def pool_key(
    message: Descriptor, field: FieldDescriptor, pools: Pools | Sequence[str]
) -> str | None:
    """``Message.field`` if the world has a pool for it, else ``field``, else None."""
    for key in (f"{message.name}.{field.name}", field.name):
        if key in pools:
            return key
    return None


# ------------------------------------------------------------------- scalars

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)
_INT_TYPES = {
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_SFIXED64: INT64,
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_SFIXED32: INT32,
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
}

# Values that have broken parsers, SQL, file systems and error messages before.
FRAGMENTS: tuple[str, ...] = (
    "", " ", " lead", "trail ", "\t", "\n", "\r\n", "\x00", "a\x00b", "\x7f", "\x1b[31m",
    "\u0085", "\u2028", "\u200b", "\ufeff", "\uffff", "\U0010ffff", "\U0001d11e", "é",
    "e\u0301", "caf\u00e9", "cafe\u0301", "\u202e", "\u009b", "\u2066", "\u200d",
    "ﬁ", "İ", "ß", "Ω", "💥",
    "' OR 1=1 --", "'; DROP TABLE registered_models; --", '" OR ""="', "1; SELECT pg_sleep(5)",
    "%", "_", "%%", "\\", "\\%", "`", "``", "'", "''", '"', "/*", "*/", "--", ";",
    "../../etc/passwd", "..\\x", "..", ".", "/", "//", "/etc/passwd", "C:\\Windows\\x",
    "a/../b", "a//b", "./a", "a/.", "~", "$HOME", "${jndi:ldap://x}", "{{7*7}}", "%s%n", "%00",
    "models:/", "models://x/1", "models:/x", "models:/x@", "models:/x/0", "models:/x/-1",
    "models:/x/99999999999999999999", "models:/x/1/../..", "models:/x@latest", "latest",
    "7", "v7", "None", "NULL", "null", "true", "0", "-1", "9" * 30, "NaN", "1e308",
    "name = 'x' OR 1=1", "tags.`x` = 'y'", "version_number = 99999999999999999999",
    "creation_timestamp > -9223372036854775809", "(" * 25 + "name = 'x'" + ")" * 25,
    "name IN ()", "name LIKE '\\'", "name LIKE '%' AND", "stage = 'nope'",
)  # fmt: skip

# Just around the limits the server documents (characters and UTF-8 bytes).
HUGE_SIZES = (250, 251, 255, 256, 257, 1024, 1025, 4096, 4097, 8193, 65_536, 65_537, 100_000)
_WIDE_CHARS = ("a", "é", "\U0001d11e", "/", "%", "'")

_PRINTABLE_NO_SURROGATES = st.characters(exclude_categories=("Cs",))
_CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(
    ["\x7f", "\x85", "\u2028", "\u2029", "\u200b", "\ufeff"]
)
_SYNTAX = st.sampled_from(list("'\"`%_\\/.;-*()=<>!,@:\x00 "))


@functools.cache
def huge_text() -> st.SearchStrategy[str]:
    """One repeated (possibly multi-byte) character, around a documented limit."""
    return st.builds(
        lambda ch, n: (ch * n)[:n], st.sampled_from(_WIDE_CHARS), st.sampled_from(HUGE_SIZES)
    )


@functools.cache
def hostile_text() -> st.SearchStrategy[str]:
    """Strings protobuf can carry (valid UTF-8: no lone surrogates) that a
    server must refuse or store faithfully, never choke on."""
    return st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(_PRINTABLE_NO_SURROGATES, max_size=40),
        st.text(_CONTROL, min_size=1, max_size=8),
        st.text(_SYNTAX, min_size=1, max_size=20),
        st.lists(st.sampled_from(FRAGMENTS), min_size=2, max_size=5).map("".join),
        huge_text(),
    )


@functools.cache
def hostile_int(bounds: tuple[int, int]) -> st.SearchStrategy[int]:
    low, high = bounds
    edges = [0, 1, -1, 2, 3, 100, 101, 1000, 1001, 604_800, 604_801, 2**31 - 1, 2**31, 2**32]
    edges += [-(2**31), -(2**31) - 1, 2**53, 2**63 - 1, -(2**63), low, high]
    return st.sampled_from(sorted({e for e in edges if low <= e <= high})) | st.integers(low, high)


@functools.cache
def hostile_bytes() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=64) | st.sampled_from([b"\x00" * 4096, b"\xff" * 70_000])


# ------------------------------------------------------------------ messages


@functools.cache
def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    """A hostile value for one non-message field of any type."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return hostile_text()
    if kind == FieldDescriptor.TYPE_BYTES:
        return hostile_bytes()
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_ENUM:
        # proto3 enums are open: unknown numbers go over the wire too.
        known = [v.number for v in field.enum_type.values]
        return st.sampled_from(known) | hostile_int(INT32)
    if kind in _INT_TYPES:
        return hostile_int(_INT_TYPES[kind])
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    raise AssertionError(f"no hostile strategy for {field.full_name} (type {kind})")


@functools.cache
def _valid(key: str | None) -> st.SearchStrategy[Any]:
    """A placeholder for a real value, or "unset" when the world has none."""
    if key is None:
        return st.none()
    return st.builds(Ref, st.just(key), st.integers(0, 7))


def _hostile_field(
    message: Descriptor, field: FieldDescriptor, pools: tuple[str, ...], depth: int
) -> st.SearchStrategy[Any]:
    key = pool_key(message, field, pools)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return st.none() | message_spec(field.message_type, pools, "mixed", depth + 1)
    value = _scalar(field)
    if key is not None and field.type == FieldDescriptor.TYPE_STRING:
        # Real values with hostile decoration reach past "no such model".
        joined = st.builds(Join, hostile_text(), _valid(key), hostile_text())
        suffixed = st.builds(Join, st.just(""), _valid(key), hostile_text())
        value = st.one_of(value, joined, suffixed)
    return value


def _valid_field(
    message: Descriptor, field: FieldDescriptor, pools: tuple[str, ...], depth: int
) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return st.none() | message_spec(field.message_type, pools, "valid", depth + 1)
    return _valid(pool_key(message, field, pools))


def _element(
    message: Descriptor, field: FieldDescriptor, pools: tuple[str, ...], hostile: bool, depth: int
) -> st.SearchStrategy[Any] | None:
    """One item of a repeated field (never "unset"), or None when there is no
    valid value to offer."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        mode = "mixed" if hostile else "valid"
        return message_spec(field.message_type, pools, mode, depth + 1)
    if hostile:
        return _hostile_field(message, field, pools, depth)
    key = pool_key(message, field, pools)
    return None if key is None else _valid(key)


def _field_spec(
    message: Descriptor, field: FieldDescriptor, pools: tuple[str, ...], hostile: bool, depth: int
) -> st.SearchStrategy[Any]:
    if not _is_repeated(field):
        return (_hostile_field if hostile else _valid_field)(message, field, pools, depth)
    valid = _element(message, field, pools, False, depth)
    if not hostile:
        return st.just([]) if valid is None else st.lists(valid, max_size=1)
    bad = _element(message, field, pools, True, depth)
    assert bad is not None
    items = bad if valid is None else st.one_of(bad, valid)
    many = st.builds(_many, st.sampled_from([101, 1001]), items)
    return st.lists(items, max_size=5) | many


def _many(count: int, item: Any) -> list[Any]:
    """Past a count limit (100 datasets, 1000 tags...); strings made distinct."""
    if isinstance(item, str):
        return [f"{item[:64]}{i}" for i in range(count)]
    if len(repr(item)) > 1000:  # a thousand copies of 100 KB would only test memory
        return [item] * 2
    return [item] * count


def _is_repeated(field: FieldDescriptor) -> bool:
    # `label` is deprecated in newer protobuf releases; `is_repeated` is not everywhere yet.
    repeated = getattr(field, "is_repeated", None)
    if isinstance(repeated, bool):
        return repeated
    return field.label == FieldDescriptor.LABEL_REPEATED


@functools.cache
def message_spec(
    message: Descriptor, pools: tuple[str, ...], mode: str = "request", depth: int = 0
) -> st.SearchStrategy[dict[str, Any]]:
    """A spec for ``message``. Modes: "valid" (every field real or unset),
    "mixed" (each field independently valid or hostile), "request" (one
    focused hostile field among valid ones, mixed, or all valid). Built once per message
    and mode: constructing strategies on every draw would cost more than the
    RPC under test."""
    fields = list(message.fields)
    if depth > 3 or not fields:
        return st.just({})
    valid = {f.name: _field_spec(message, f, pools, False, depth) for f in fields}
    hostile = {f.name: _field_spec(message, f, pools, True, depth) for f in fields}
    names = [f.name for f in fields]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        chosen = mode
        if mode == "request":
            chosen = draw(st.sampled_from(["focus", "mixed", "valid"]))
        focus = draw(st.sampled_from(names)) if chosen == "focus" else None
        spec: dict[str, Any] = {}
        for name in names:
            if chosen == "valid":
                bad = False
            elif chosen == "focus":
                bad = name == focus
            else:
                bad = draw(st.booleans())
            value = draw((hostile if bad else valid)[name], label=name)
            if value is not None:
                spec[name] = value
        return spec

    return build()


def materialize(cls: type[Message], spec: Mapping[str, Any], pools: Pools) -> Message:
    """Build a ``cls`` from a spec, resolving placeholders against the world."""
    message = cls()
    descriptor = message.DESCRIPTOR
    for name, value in spec.items():
        field = descriptor.fields_by_name[name]
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            sub_cls = GetMessageClass(field.message_type)
            if _is_repeated(field):
                getattr(message, name).extend(materialize(sub_cls, v, pools) for v in value)
            else:
                getattr(message, name).CopyFrom(materialize(sub_cls, value, pools))
        elif _is_repeated(field):
            getattr(message, name).extend(resolve(v, pools) for v in value)
        else:
            setattr(message, name, resolve(value, pools))
    return message


# ----------------------------------------------------------------- snapshots


class DatabaseSnapshot:
    """Row count and content hash of every table of one database, computed
    inside the database in one round trip.

    PostgreSQL sums a 64-bit hash of each row's text (no sort needed: the sum
    does not depend on the order). SQLite has no hash function, so it
    concatenates every row's quoted values in scan order (stable while nothing
    changes) and the hash is taken here.
    """

    def __init__(self, engine: Engine, ignore: Mapping[str, str] | None = None) -> None:
        """``ignore``: per table, an SQL condition on rows a call may add
        without counting as a change (e.g. the access_denied events written
        for a refused mutation, by design)."""
        self.engine = engine
        inspector = inspect(engine)
        self.tables = sorted(inspector.get_table_names())
        parts = []
        for table in self.tables:
            where = f" WHERE NOT ({ignore[table]})" if ignore and table in ignore else ""
            if engine.dialect.name == "postgresql":
                parts.append(
                    f"SELECT '{table}', count(*), "
                    f"coalesce(sum(hashtextextended(r::text, 0)), 0)::text "
                    f'FROM "{table}" r{where}'
                )
            else:
                columns = [c["name"] for c in inspector.get_columns(table)]
                row = " || ',' || ".join(f'quote("{c}")' for c in columns)
                parts.append(
                    f"SELECT '{table}', count(*), coalesce(group_concat({row}, char(10)), '') "
                    f'FROM "{table}"{where}'
                )
        self._sql = text(" UNION ALL ".join(parts))

    def take(self) -> dict[str, tuple[int, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._sql).all()
        if self.engine.dialect.name == "postgresql":
            return {t: (int(n), h) for t, n, h in rows}
        return {
            t: (int(n), hashlib.sha256(h.encode("utf-8", "surrogatepass")).hexdigest())
            for t, n, h in rows
        }


def folder_listing(root: Path) -> list[tuple[str, int, int]]:
    """Every file under the local artifact folder (temporary uploads too),
    with size and modification time, so an overwrite is noticed."""
    found = []
    pending = [(str(root), "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                name = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, name + "/"))
                else:
                    stat = entry.stat(follow_symlinks=False)
                    found.append((name, stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def bucket_listing(client: Minio, bucket: str) -> list[tuple[str, int, str]]:
    """Every object in the whole bucket (not only the server's prefix)."""
    try:
        return sorted(
            (o.object_name or "", o.size or 0, o.etag or "")
            for o in client.list_objects(bucket, recursive=True)
        )
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            return []
        raise
