"""The `registry` command line tool covers the API and documents itself: every RPC
has a command, every group and command has help with examples that parse, and the
command lines documented in the README and docs/ parse.

Everything goes through `registry_client.cli.main`, exactly as the console
script runs it, so exit codes, stdout and stderr are what a shell sees.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

import pytest
from support.cli import offline
from support.doc_commands import command_lines

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client import RPC_METHODS, RegistryClient
from registry_client.cli import RPC_COMMANDS, build_parser

SERVICE_RPCS = sorted(m.name for m in pb.DESCRIPTOR.services_by_name["ModelRegistry"].methods)


def test_every_rpc_has_a_cli_command_and_a_client_method() -> None:
    assert sorted(RPC_COMMANDS) == SERVICE_RPCS
    assert sorted(RPC_METHODS) == SERVICE_RPCS
    for method in RPC_METHODS.values():
        assert callable(getattr(RegistryClient, method))


@pytest.mark.parametrize("rpc", SERVICE_RPCS)
def test_every_command_has_help_with_examples(rpc: str, capsys: pytest.CaptureFixture[str]) -> None:
    # "history --as-of": the command is the words, the option selects the RPC.
    words = RPC_COMMANDS[rpc].split()
    code, out, _ = offline(capsys, *[w for w in words if not w.startswith("-")], "--help")
    assert code == 0
    examples = out.split("Examples:\n", 1)[1].splitlines()
    assert any(
        line.strip().startswith("registry ") and all(w in line.split() for w in words)
        for line in examples
    ), f"no example of `registry {RPC_COMMANDS[rpc]}`"


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the CLI (root, groups, commands) with its command words."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _example_commands(epilog: str) -> list[str]:
    """The example command lines of an epilog, continuation lines joined."""
    lines = epilog.split("Examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    commands: list[str] = []
    pending = ""
    for line in lines:
        pending += line.strip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        commands.append(pending)
        pending = ""
    return commands


ALL_PARSERS = list(_parsers(build_parser()))


@pytest.mark.parametrize(
    ("path", "parser"), ALL_PARSERS, ids=[" ".join(p) or "registry" for p, _ in ALL_PARSERS]
)
def test_every_parser_has_examples_that_parse(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    """Every group and command shows at least one example of itself, and every
    example is a valid command line: help that errors out is worse than none."""
    assert parser.epilog and "Examples:" in parser.epilog, path
    commands = _example_commands(parser.epilog)
    assert any(c.startswith("registry ") for c in commands), path
    assert any(" ".join(path) in c for c in commands), f"no example uses {' '.join(path)!r}"
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "registry", command
        try:
            args = build_parser().parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"example does not parse: {command}")
        assert args.check is None or args.check(args) is None, command


def test_documented_command_lines_parse() -> None:
    """The CLI examples of the README and docs/ (written by several people)
    stay valid command lines as the CLI changes."""
    commands = command_lines()
    assert len(commands) >= 40
    for argv in commands:
        try:
            args = build_parser().parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"documented command does not parse: {shlex.join(argv)}")
        assert args.check is None or args.check(args) is None, shlex.join(argv)


def test_the_command_list_covers_every_parser() -> None:
    commands = {p for p, parser in ALL_PARSERS if parser.get_default("handler")}
    mapped = {tuple(w for w in c.split() if not w.startswith("-")) for c in RPC_COMMANDS.values()}
    assert mapped <= commands


@pytest.mark.parametrize(
    "group", [[], ["models"], ["versions"], ["aliases"], ["artifacts"], ["search"], ["lineage"]]
)
def test_groups_have_help_with_examples(
    group: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = offline(capsys, *group, "--help")
    assert code == 0
    assert "Examples:" in out
