"""The `registry` and `registry-server` command lines written in README.md and docs/.

Several tests check that the documented commands still parse as the CLI
changes; they share this one reading of the Markdown.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))


# What a shell variable of the examples stands for; any other is a number (an id, a version).
_EXAMPLE_VALUES = {"NOW": "2026-03-01 10:00"}


def _example_value(match: re.Match[str]) -> str:
    return _EXAMPLE_VALUES.get(match.group(1), "1")


_SEPARATORS = frozenset({"(", ")", "|", "||", "&&", ";", "&"})


def command_lines(*documents: Path, programs: tuple[str, ...] = ("registry",)) -> list[list[str]]:
    """Every invocation of `programs` in the shell blocks of `documents` (all by
    default) as argv lists: continuation lines joined, a command taken from the
    start of a line or after `$(`, `||`, `&&`, `;` or a pipe, up to the next of
    them, shell variables replaced by an example value (1 for most: `"$ID"` is a number) and
    redirections dropped. Quoted arguments stay whole (shlex tokenises)."""
    found = []
    for document in documents or DOCUMENTS:
        text = document.read_text()
        for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, flags=re.S):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                line = re.sub(r"\$\{?(\w+)(?::-[^}]*)?\}?", _example_value, line)
                lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
                lexer.whitespace_split = True
                found.extend(_commands(list(lexer), programs, line))
    return found


def _commands(tokens: list[str], programs: tuple[str, ...], line: str) -> list[list[str]]:
    commands: list[list[str]] = []
    current: list[str] | None = None
    previous: str | None = None
    skip_next = False
    for token in tokens:
        if skip_next:  # the target of a redirection
            skip_next = False
        elif token in _SEPARATORS:
            current = None
        elif token.startswith((">", "<")):
            # shlex splits `2>` into `2` and `>`: the descriptor is no argument.
            if current and current[-1].isdigit() and f"{current[-1]}{token}" in line:
                current.pop()
            skip_next = True
        elif current is not None:
            current.append(token)
        elif token in programs and (previous is None or previous in _SEPARATORS):
            current = [token]
            commands.append(current)
        previous = token
    return commands
