"""What an import did, item by item: the report ``registry import mlflow``
prints (a table, or JSON with ``--output json``)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACTIONS", "KINDS", "ImportItem", "ImportReport"]

#: What happened to an item. ``would_import`` only in a dry run.
ACTIONS = ("imported", "skipped", "failed", "would_import")
#: What an item is.
KINDS = ("model", "version", "alias")


@dataclass(frozen=True, slots=True)
class ImportItem:
    """One model, version or alias and what the import did with it."""

    kind: str
    name: str
    action: str
    reason: str = ""
    version: int | None = None
    alias: str | None = None

    def label(self) -> str:
        if self.kind == "version":
            return f"{self.name}/{self.version}"
        if self.kind == "alias":
            return f"{self.name}@{self.alias} -> {self.version}"
        return self.name


@dataclass
class ImportReport:
    """Every item in the order it was handled; safe to add to from threads."""

    source: str
    dry_run: bool = False
    items: list[ImportItem] = field(default_factory=list)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, item: ImportItem) -> ImportItem:
        with self._lock:
            self.items.append(item)
        return item

    def of(self, kind: str, action: str | None = None) -> list[ImportItem]:
        return [i for i in self.items if i.kind == kind and (action is None or i.action == action)]

    @property
    def failed(self) -> list[ImportItem]:
        return [i for i in self.items if i.action == "failed"]

    def counts(self) -> dict[str, dict[str, int]]:
        """kind -> action -> number, every kind and action present (0s too)."""
        found = Counter((i.kind, i.action) for i in self.items)
        return {k: {a: found[(k, a)] for a in ACTIONS} for k in KINDS}

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "failures": [_item_json(i) for i in self.failed],
            "items": [_item_json(i) for i in self.items],
        }

    def text(self) -> str:
        counts = self.counts()
        lines = [
            f"Import from {self.source}{' (dry run: nothing changed)' if self.dry_run else ''}"
        ]
        for kind in KINDS:
            row = counts[kind]
            shown = ", ".join(f"{row[a]} {a.replace('_', ' ')}" for a in ACTIONS if row[a])
            lines.append(f"  {kind + 's:':9} {shown or 'none'}")
        if self.dry_run:
            todo = [i for i in self.items if i.action == "would_import"]
            if todo:
                lines.append("Would import:")
                lines.extend(f"  {i.kind:8} {i.label()}" for i in todo)
        if self.failed:
            lines.append("Failed:")
            lines.extend(f"  {i.kind:8} {i.label()}: {i.reason}" for i in self.failed)
        return "\n".join(lines)


def _item_json(item: ImportItem) -> dict[str, Any]:
    found: dict[str, Any] = {"kind": item.kind, "name": item.name, "action": item.action}
    if item.version is not None:
        found["version"] = item.version
    if item.alias is not None:
        found["alias"] = item.alias
    if item.reason:
        found["reason"] = item.reason
    return found
