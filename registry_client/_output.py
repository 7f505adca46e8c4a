"""Rendering of client results for the ``registry`` command line tool.

Two audiences: ``json`` is for scripts (one document, stable field names,
raw millisecond timestamps, no proto internals), ``table`` is for people
(aligned key/value lines or rows, readable times, empty fields as "-").
Kept apart from argument parsing so each stays small.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

# Moved to its own module; re-exported for code that still imports it from here.
from registry_client._progress import ProgressBar as ProgressBar
from registry_client._types import (
    ArtifactDownloadUrls,
    ArtifactFile,
    ArtifactListing,
    DownloadedModel,
    ModelEvent,
    ModelStateAsOf,
    ModelVersion,
    RegisteredModel,
    ResolvedModel,
    VersionLineage,
)

_EMPTY = "-"
_MAX_CELL = 60


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
        return _EMPTY
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_map(mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return _EMPTY
    return ", ".join(f"{k}={v}" for k, v in sorted(mapping.items()))


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def key_values(pairs: Iterable[tuple[str, Any]]) -> str:
    """Aligned ``key:  value`` lines; multi-line values stay under their column."""
    pairs = [(k, _EMPTY if v in ("", None) else str(v)) for k, v in pairs]
    if not pairs:
        return ""
    width = max(len(k) for k, _ in pairs) + 2
    lines = []
    for key, value in pairs:
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
            return _EMPTY
        if (full_last and i == last) or (full_first and i == 0):
            return str(value)
        return _cell(value)

    cells = [[cell(i, c) for i, c in enumerate(row)] for row in body]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    widths[last] = 0  # never pad the last column
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [list(headers), *cells]
    ]
    return "\n".join(lines)


# -- entities ----------------------------------------------------------------


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
                "\n".join(
                    " ".join(p for p in (d.name, d.digest, d.source_uri) if p) or _EMPTY
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


def model_text(rm: RegisteredModel) -> str:
    text = key_values(
        [
            ("name", rm.name),
            ("description", rm.description),
            ("tags", fmt_map(rm.tags)),
            ("aliases", fmt_map(rm.aliases)),
            ("last_version", rm.last_version),
            ("created_by", rm.created_by),
            ("created", fmt_time(rm.creation_timestamp)),
            ("updated", fmt_time(rm.last_updated_timestamp)),
        ]
    )
    if rm.latest_versions:
        text += "\n\nLatest versions:\n" + versions_table(rm.latest_versions)
    return text


def resolved_text(resolved: ResolvedModel) -> str:
    head = key_values([("resolved_uri", resolved.resolved_uri), ("path", resolved.path)])
    return head + "\n\n" + version_text(resolved.model_version)


def _change(event: ModelEvent) -> str:
    """``key=value`` for values that did not change (or just appeared or
    vanished, as on creation and deletion), ``key: old -> new`` otherwise."""

    def show(value: Any) -> str:
        return '""' if value == "" else _cell(value)

    parts = []
    one_sided = not event.before or not event.after
    for key in sorted({*event.before, *event.after}):
        before = event.before.get(key, _EMPTY)
        after = event.after.get(key, _EMPTY)
        if one_sided or before == after:
            value = after if key in event.after else before
            parts.append(f"{key}={show(value)}")
        else:
            parts.append(f"{key}: {show(before)} -> {show(after)}")
    return "; ".join(parts)


def events_table(events: Sequence[ModelEvent]) -> str:
    # The model column only when it tells something: a listing across models,
    # or one model renamed within the listed period.
    with_model = len({e.model_name for e in events}) > 1
    headers = ["EVENT", "TIME", "ACTOR", "KIND", "VERSION", "CHANGE"]
    if with_model:
        headers.insert(3, "MODEL")
    body = []
    for e in events:
        row = [
            str(e.event_id),
            fmt_time(e.timestamp),
            e.actor,
            e.kind,
            str(e.version or ""),
            _change(e),
        ]
        if with_model:
            row.insert(3, e.model_name)
        body.append(row)
    return rows(headers, body, "(no events)", full_last=True)


# -- search, lineage and past states -----------------------------------------


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


def _tree_entries(lin: VersionLineage) -> list[tuple[str, ModelVersion]]:
    """(tree label, version) from the oldest ancestor down to the version
    asked about (marked ``*``), then its descendants as a tree."""
    focus = lin.model_version
    chain = [*reversed(lin.ancestors), focus]
    entries: list[tuple[str, ModelVersion]] = []
    for depth, v in enumerate(chain):
        branch = "" if depth == 0 else "    " * (depth - 1) + "`-- "
        entries.append((branch + v.uri + (" *" if v is focus else ""), v))
    placed = {(v.name, v.version) for v in chain}

    def walk(parent: ModelVersion, prefix: str) -> None:
        kids = [
            k
            for k in lin.children_of(parent.name, parent.version)
            if (k.name, k.version) not in placed
        ]
        placed.update((k.name, k.version) for k in kids)
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            entries.append((prefix + ("`-- " if last else "|-- ") + kid.uri, kid))
            walk(kid, prefix + ("    " if last else "|   "))

    walk(focus, "    " * (len(chain) - 1))
    # A descendant whose parent link the tree cannot follow (it should not
    # happen) is still listed rather than silently dropped.
    entries += [("? " + d.uri, d) for d in lin.descendants if (d.name, d.version) not in placed]
    return entries


def lineage_text(lin: VersionLineage) -> str:
    head = key_values(
        [
            ("version", lin.model_version.uri + "  (* in the tree)"),
            ("ancestors", len(lin.ancestors)),
            ("descendants", len(lin.descendants)),
        ]
    )
    tree = rows(
        ("LINEAGE", "STAGE", "STATUS", "ALIASES", "RUN_ID", "CREATED"),
        [
            (
                label,
                v.current_stage,
                v.status,
                ",".join(v.aliases),
                v.run_id,
                fmt_time(v.creation_timestamp),
            )
            for label, v in _tree_entries(lin)
        ],
        "",
        full_first=True,
    )
    text = head + "\n\n" + tree
    if lin.truncated:
        text += "\n(truncated: the depth limit (--max-depth) or the 1,000-descendant limit was hit)"
    return text


#: Stages in the order people ask about them.
STAGES = ("Production", "Staging", "None", "Archived")


def stage_holders(state: ModelStateAsOf) -> dict[str, list[int]]:
    """Stage -> the versions in it at that moment, highest first; every stage present."""
    holders: dict[str, list[int]] = {stage: [] for stage in STAGES}
    for v in state.versions:
        holders.setdefault(v.current_stage, []).append(v.version)
    return {stage: sorted(held, reverse=True) for stage, held in holders.items()}


def state_text(state: ModelStateAsOf) -> str:
    pairs: list[tuple[str, Any]] = [
        ("model", state.name),
        ("as_of", fmt_time(state.as_of_timestamp)),
    ]
    pairs += [
        (stage, ", ".join(map(str, held)) or _EMPTY) for stage, held in stage_holders(state).items()
    ]
    pairs += [("aliases", fmt_map(state.aliases)), ("last_event", state.last_event_id or "")]
    versions = rows(
        ("VERSION", "STAGE", "STATUS"),
        [
            (str(v.version), v.current_stage, v.status)
            for v in sorted(state.versions, key=lambda v: v.version)
        ],
        "(no versions then)",
    )
    return key_values(pairs) + "\n\n" + versions


# -- artifacts ------------------------------------------------------------------


def files_table(files: Sequence[ArtifactFile], state: Mapping[str, str] | None = None) -> str:
    headers = ["PATH", "SIZE", "SHA256"]
    if state is not None:
        headers.insert(2, "STATE")
    body = []
    for f in files:
        row = [f.path, fmt_bytes(f.size), f.sha256]
        if state is not None:
            row.insert(2, state.get(f.path, ""))
        body.append(row)
    return rows(headers, body, "(no files)", full_last=True)


def listing_text(listing: ArtifactListing) -> str:
    mv = listing.model_version
    total = sum(f.size for f in listing.files)
    head = key_values(
        [
            ("version", mv.uri),
            ("status", mv.status),
            ("files", f"{len(listing.files)} ({fmt_bytes(total)})"),
        ]
    )
    return head + "\n\n" + files_table(listing.files)


def downloaded_text(result: DownloadedModel) -> str:
    mv = result.model_version
    total = sum(f.size for f in result.files)
    head = key_values(
        [
            ("version", mv.uri),
            ("local_dir", result.local_dir),
            (
                "files",
                f"{len(result.files)} ({fmt_bytes(total)}): {len(result.downloaded)} downloaded, "
                f"{len(result.skipped)} already present",
            ),
        ]
    )
    state = {p: "downloaded" for p in result.downloaded} | {p: "present" for p in result.skipped}
    return head + "\n\n" + files_table(result.files, state)


def urls_text(result: ArtifactDownloadUrls) -> str:
    if not result.supported:
        return (
            "(the registry's artifact store cannot presign URLs; "
            "use `registry download` to stream the files)"
        )
    return rows(
        ("PATH", "SIZE", "URL"),
        [(u.file.path, fmt_bytes(u.file.size), u.url) for u in result.urls],
        "(no files)",
        full_last=True,
    )
