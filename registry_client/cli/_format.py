"""Output helpers the command modules share: JSON for scripts, aligned
text for people, and the renderings of versions and models that several
command groups print.

Two audiences: ``json`` is for scripts (one document, stable field names,
raw millisecond timestamps, no proto internals), ``table`` is for people
(aligned key/value lines or rows, readable times, empty fields as "-").
What only one group prints lives in that group's module.

Text for people never carries a caller's control characters raw: a tag value
holding ``ESC[2J`` or an OSC sequence would clear or retitle the terminal of
whoever runs ``registry models get``, and a newline would forge a row.
``printable`` writes them as escapes (``\\x1b``, ``\\n``); JSON stays exact.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

from registry_client.types import ModelVersion, RegisteredModel

EMPTY = "-"


_MAX_CELL = 60

# Controls (C0 and C1), format characters (bidirectional overrides, zero-width
# characters) and the line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    n = ord(ch)
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    if n < 0x100:
        return f"\\x{n:02x}"
    return f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control and format characters written as escapes
    (``\\x1b``, ``\\u202e``, ``\\n``), so a terminal shows them instead of
    acting on them. ``keep_newlines`` keeps the line breaks of text the CLI
    laid out itself (a whole table); single values never keep theirs."""
    if text.isascii() and text.isprintable():
        return text  # the common case, without a lookup per character
    return "".join(
        _escape_char(ch)
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES and not (keep_newlines and ch == "\n")
        else ch
        for ch in text
    )


def to_jsonable(obj: Any) -> Any:
    """Turn client dataclasses into plain JSON values, dropping ``raw``.

    Versions also get their ``uri``: it is what scripts usually want next and
    it is not a stored field.
    """
    if is_dataclass(obj) and not isinstance(obj, type):
        data = {f.name: to_jsonable(getattr(obj, f.name)) for f in fields(obj) if f.name != "raw"}
        if isinstance(obj, ModelVersion):
            data["uri"] = obj.uri
        return data
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False)


# -- building blocks ----------------------------------------------------------


def fmt_time(ms: int) -> str:
    if not ms:
        return EMPTY
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_map(mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return EMPTY
    return ", ".join(f"{printable(str(k))}={printable(str(v))}" for k, v in sorted(mapping.items()))


def clip_cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = printable(text)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def key_values(pairs: Iterable[tuple[str, Any]]) -> str:
    """Aligned ``key:  value`` lines. A value is one line (its own newlines
    escaped, see ``printable``); a tuple of lines stays under its column."""

    def shown(value: Any) -> str:
        if isinstance(value, tuple):
            return "\n".join(printable(str(line)) for line in value) or EMPTY
        return EMPTY if value in ("", None) else printable(str(value))

    shown_pairs = [(k, shown(v)) for k, v in pairs]
    if not shown_pairs:
        return ""
    width = max(len(k) for k, _ in shown_pairs) + 2
    lines = []
    for key, value in shown_pairs:
        indent = "\n" + " " * width
        lines.append(f"{key + ':':<{width}}{value.replace(chr(10), indent)}")
    return "\n".join(lines)


def rows(
    headers: Sequence[str],
    body: Sequence[Sequence[Any]],
    empty: str,
    *,
    full_last: bool = False,
    full_first: bool = False,
) -> str:
    """A left-aligned table, or ``empty`` when there is nothing to show.

    Cells are cut to keep rows on one line, except the last column when
    ``full_last`` is set (for a column that is the point of the row) and the
    first when ``full_first`` is (a tree, whose indentation must survive).
    """
    if not body:
        return empty
    last = len(headers) - 1

    def cell(i: int, value: Any) -> str:
        if value in ("", None):
            return EMPTY
        if (full_last and i == last) or (full_first and i == 0):
            return printable(str(value))
        return clip_cell(value)

    cells = [[cell(i, c) for i, c in enumerate(row)] for row in body]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    widths[last] = 0  # never pad the last column
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [list(headers), *cells]
    ]
    return "\n".join(lines)


# -- versions and models, printed by several groups -------------------------------


def version_text(mv: ModelVersion) -> str:
    status = mv.status + (f" ({mv.status_message})" if mv.status_message else "")
    pairs: list[tuple[str, Any]] = [
        ("name", mv.name),
        ("version", mv.version),
        ("uri", mv.uri),
        ("stage", mv.current_stage),
        ("status", status),
        ("aliases", ", ".join(mv.aliases)),
        ("description", mv.description),
        ("source", mv.source),
        ("run_id", mv.run_id),
    ]
    if mv.registry_held_artifacts:
        pairs.append(("files", "held by the registry (registry artifacts list " + mv.uri + ")"))
    lin = mv.lineage
    # Optional lineage is shown only when present: most versions have little.
    for key, value in (
        ("run_link", lin.run_link),
        ("experiment_id", lin.experiment_id),
        ("code_version", lin.code_version),
        ("parent", lin.parent_model_uri),
    ):
        if value:
            pairs.append((key, value))
    if lin.datasets:
        pairs.append(
            (
                "datasets",
                tuple(
                    " ".join(p for p in (d.name, d.digest, d.source_uri) if p) or EMPTY
                    for d in lin.datasets
                ),
            )
        )
    pairs += [
        ("tags", fmt_map(mv.tags)),
        ("created_by", mv.created_by),
        ("created", fmt_time(mv.creation_timestamp)),
        ("updated", fmt_time(mv.last_updated_timestamp)),
    ]
    return key_values(pairs)


def versions_table(versions: Sequence[ModelVersion], empty: str = "(no versions)") -> str:
    return rows(
        ("NAME", "VERSION", "STAGE", "STATUS", "ALIASES", "RUN_ID", "SOURCE"),
        [
            (
                v.name,
                str(v.version),
                v.current_stage,
                v.status,
                ",".join(v.aliases),
                v.run_id,
                v.source,
            )
            for v in versions
        ],
        empty,
    )


def models_table(models: Sequence[RegisteredModel]) -> str:
    return rows(
        ("NAME", "LAST_VERSION", "ALIASES", "TAGS", "UPDATED", "DESCRIPTION"),
        [
            (
                m.name,
                str(m.last_version or ""),
                fmt_map(m.aliases),
                fmt_map(m.tags),
                fmt_time(m.last_updated_timestamp),
                m.description,
            )
            for m in models
        ],
        "(no models)",
    )
