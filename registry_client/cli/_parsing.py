"""What every command module of the CLI shares: the ``Result`` a handler
returns, the helpers that declare groups and commands (so every one gets a
description and examples), and the argument types argparse checks."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from registry_client._client import RegistryClient


@dataclass(frozen=True)
class Result:
    """What a command produced: ``data`` for --output json, ``text`` for people.

    ``note`` is a hint for people (e.g. how to get the next page) that goes
    to stderr in table mode, keeping stdout a clean table for ``grep`` and
    ``awk``; in JSON mode the same information is a field of ``data``.
    ``failed`` makes the command exit 1 after printing: a batch (an import)
    whose report is worth reading even though part of it did not succeed.
    ``streamed``: the command wrote its output as it went (``registry
    watch``, one line per event), so nothing is left to print.
    """

    data: Any
    text: str
    note: str = ""
    failed: bool = False
    streamed: bool = False


Handler = Callable[[RegistryClient, argparse.Namespace], Result]


#: Checks argument combinations argparse cannot express; returns what is
#: wrong (reported as a usage error, exit 2, before connecting) or None.
Check = Callable[[argparse.Namespace], str | None]


def epilog(*lines: str) -> str:
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)


def group(sub: Any, name: str, help: str, description: str, examples: Sequence[str]) -> Any:
    parser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog(*examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # A group named without a command lists its commands (``main`` prints
    # this parser's help) rather than argparse's bare "arguments are required".
    parser.set_defaults(usage_parser=parser)
    return parser.add_subparsers(dest="command", metavar="COMMAND")


def command(
    sub: Any,
    name: str,
    handler: Handler,
    help: str,
    description: str,
    examples: Sequence[str],
    *,
    check: Check | None = None,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog(*examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The parser itself is kept so that `check` failures are reported with
    # this command's usage line, like argparse's own errors.
    parser.set_defaults(handler=handler, check=check, command_parser=parser)
    return parser


def done(text: str, **data: Any) -> Result:
    # Calls that return nothing still print one JSON document, so scripts
    # can always parse stdout.
    return Result(data, text)


# -- argument types ---------------------------------------------------------------
# Raising ArgumentTypeError makes argparse report the bad value and exit 2.


def add_name_version(p: argparse.ArgumentParser) -> None:
    """The NAME VERSION positionals every command about one version takes."""
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=positive_int, help="version number")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


class TagAction(argparse.Action):
    """Collect repeated ``--tag KEY=VALUE`` into a dict, rejecting duplicates.

    A duplicate key is almost always a typo, and the server would reject it
    anyway; catching it here gives a usage error (exit 2) instead of exit 1.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        key, value = values
        tags = dict(getattr(namespace, self.dest) or {})
        if key in tags:
            parser.error(f"argument {option_string}: tag key {key!r} given twice")
        tags[key] = value
        setattr(namespace, self.dest, tags)


def add_tag_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tag",
        dest="tags",
        metavar="KEY=VALUE",
        type=key_value,
        action=TagAction,
        default=None,
        help="a tag to set; repeat for several",
    )
