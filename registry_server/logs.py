"""How the server writes its log: text lines (the default) or JSON Lines.

``--log-format json`` (REGISTRY_LOG_FORMAT=json) writes one JSON object per
line, for log pipelines that index fields (Loki, Elasticsearch, Cloud
Logging): ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
``message`` and, on a call's line, ``method``, ``status``, ``duration_ms``,
``principal``, ``status_message`` and ``trace_id`` (with tracing on;
api/interceptors.py puts them on the record). A traceback is ``exception``.

Caller text (a model name, a filter) is escaped in the text format so that one
record stays one line and nothing reaches a terminal raw (text.py). In JSON it
is written exactly as the caller sent it: JSON's own escaping (``\\n``,
``\\u001b``; everything beyond ASCII as ``\\uXXXX``) already keeps a record on
one line and control characters out of terminals, and a consumer gets the
value back unchanged.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        # text.EscapingFilter keeps the message as written when it escapes it.
        message = getattr(record, "unescaped", None)
        if message is None:
            message = record.getMessage()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        call = getattr(record, "call", None)
        if call is not None:
            entry.update((key, value) for key, value in call.items() if value is not None)
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = "".join(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)


def configure(level: str, log_format: str) -> None:
    """The root logger writes ``log_format`` records of ``level`` and up to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
