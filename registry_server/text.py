"""Caller text that is unsafe to show raw, and how it is shown in logs.

A name, a filter or a tag value ends up in log lines (the call log repeats
the status message, which names the offending value). A newline there forged a
whole log line (a filter ``tags.`x\\n2026-... DeleteRegisteredModel OK` = 5``
wrote a second line that looked like a successful delete), and escape
sequences (ESC, OSC) reach an operator's terminal through ``tail -f``.

``UNSAFE_CATEGORIES`` are the Unicode categories that have no business in a
name: controls (Cc, including C1), format characters (Cf: bidirectional
overrides, zero-width joiners and spaces, the BOM) and the line and paragraph
separators (Zl, Zp). Validation refuses them in names, tag keys, aliases and
artifact paths; ``escape`` makes them visible everywhere else (free text
such as descriptions and tag values may hold them; logs must not).
"""

from __future__ import annotations

import logging
import traceback
import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in UNSAFE_CATEGORIES


def first_unsafe(text: str) -> str | None:
    """The first character of ``text`` in an unsafe category, or None."""
    if text.isascii() and text.isprintable():
        return None  # the common case, without a lookup per character
    for ch in text:
        if is_unsafe(ch):
            return ch
    return None


def code_point(ch: str) -> str:
    """``U+202E`` for a character: how an error message names one."""
    return f"U+{ord(ch):04X}"


def escape_char(ch: str) -> str:
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    n = ord(ch)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def escape(text: str) -> str:
    """``text`` with every unsafe character written as an escape (``\\x1b``,
    ``\\n``, ``\\u202e``): one line, nothing a terminal acts on."""
    if first_unsafe(text) is None:
        return text
    return "".join(escape_char(ch) if is_unsafe(ch) else ch for ch in text)


# Lines of a formatted traceback that the code wrote, not a caller: the
# frames and the joints between chained exceptions. Everything else is an
# exception's message, which may repeat caller text.
_TRACEBACK_FRAMES = ("Traceback (", "  File ", "  [Previous", "\nDuring", "\nThe above")


def escaped_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` with each exception's message escaped: the
    frames keep their lines, a message cannot add any."""
    parts = []
    for chunk in traceback.TracebackException.from_exception(exc).format():
        if chunk.startswith(_TRACEBACK_FRAMES):
            parts.append(chunk)
        else:
            parts.append(escape(chunk.removesuffix("\n")) + "\n")
    return "".join(parts).removesuffix("\n")


class EscapingFilter(logging.Filter):
    """Formats a record's message with its arguments, escaped, so that one
    record stays one line whatever the arguments hold; a traceback keeps its
    frames' lines but not the lines of an exception's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape(message)
        if escaped is not message:
            record.unescaped = message  # exact, for the JSON format (logs.py)
            record.msg = escaped
            record.args = None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = escaped_traceback(record.exc_info[1])
        return True
