"""Rendering of client results for the ``registry`` command line tool.

Two audiences: ``json`` is for scripts (one document, stable field names,
raw millisecond timestamps, no proto internals), ``table`` is for people
(aligned key/value lines or rows, readable times, empty fields as "-").
Kept apart from argument parsing so each stays small.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from registry_client._types import (
    ArtifactDownloadUrls,
    ArtifactFile,
    ArtifactListing,
    DownloadedModel,
    ModelEvent,
    ModelVersion,
    RegisteredModel,
    ResolvedModel,
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
    headers: Sequence[str], body: Sequence[Sequence[Any]], empty: str, *, full_last: bool = False
) -> str:
    """A left-aligned table, or ``empty`` when there is nothing to show.

    Cells are cut to keep rows on one line, except the last column when
    ``full_last`` is set (for a column that is the point of the row).
    """
    if not body:
        return empty
    last = len(headers) - 1

    def cell(i: int, value: Any) -> str:
        if value in ("", None):
            return _EMPTY
        if full_last and i == last:
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
    body = [
        (
            str(e.event_id),
            fmt_time(e.timestamp),
            e.actor,
            e.kind,
            str(e.version or ""),
            _change(e),
        )
        for e in events
    ]
    return rows(
        ("EVENT", "TIME", "ACTOR", "KIND", "VERSION", "CHANGE"), body, "(no events)", full_last=True
    )


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


class ProgressBar:
    """``label [#####-----] 12.0 MiB / 40.0 MiB`` redrawn in place on a terminal.

    Draws nothing when ``stream`` is not a terminal, so logs and pipes stay
    clean. Pass the instance as a ``progress`` callback and ``close()`` it
    afterwards to end the line.
    """

    _WIDTH = 30
    _INTERVAL = 0.1  # seconds between redraws

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self._last_draw = 0.0
        self._last_len = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last_draw < self._INTERVAL:
            return
        self._last_draw = now
        filled = self._WIDTH if total <= 0 else min(self._WIDTH, self._WIDTH * done // total)
        line = (
            f"{self._label} [{'#' * filled}{'-' * (self._WIDTH - filled)}] "
            f"{fmt_bytes(done)} / {fmt_bytes(total)}"
        )
        self._stream.write("\r" + line.ljust(self._last_len))
        self._stream.flush()
        self._last_len = len(line)

    def close(self) -> None:
        if self._last_len:
            self._stream.write("\n")
            self._stream.flush()
            self._last_len = 0
