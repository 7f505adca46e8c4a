"""The `registry` command line tool, end to end against the real server.

Everything goes through `registry_client.cli.main`, exactly as the console
script runs it, so exit codes, stdout and stderr are what a shell sees.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.doc_commands import command_lines
from support.net import free_port

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client import RPC_METHODS, NotFound, RegistryClient, Unavailable, cli
from registry_client.cli import RPC_COMMANDS, build_parser, main
from registry_client.cli.history import timestamp

SERVICE_RPCS = sorted(m.name for m in pb.DESCRIPTOR.services_by_name["ModelRegistry"].methods)
ACTOR = "cli-test"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(target: str, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the CLI against the test server; returns (exit code, stdout, stderr)."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(["--target", target, "--actor", ACTOR, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def run_json(run: Run) -> Callable[..., Any]:
    """Run a command with --output json, require success, return the parsed document."""

    def _run_json(*argv: str) -> Any:
        code, out, err = run("--output", "json", *argv)
        assert code == 0, err
        return json.loads(out)

    return _run_json


def _offline(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- coverage of the API


def test_every_rpc_has_a_cli_command_and_a_client_method() -> None:
    assert sorted(RPC_COMMANDS) == SERVICE_RPCS
    assert sorted(RPC_METHODS) == SERVICE_RPCS
    for method in RPC_METHODS.values():
        assert callable(getattr(RegistryClient, method))


@pytest.mark.parametrize("rpc", SERVICE_RPCS)
def test_every_command_has_help_with_examples(rpc: str, capsys: pytest.CaptureFixture[str]) -> None:
    # "history --as-of": the command is the words, the option selects the RPC.
    words = RPC_COMMANDS[rpc].split()
    code, out, _ = _offline(capsys, *[w for w in words if not w.startswith("-")], "--help")
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


README = Path(__file__).resolve().parent.parent / "README.md"


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
    code, out, _ = _offline(capsys, *group, "--help")
    assert code == 0
    assert "Examples:" in out


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["models"],
        ["nonsense"],
        ["--output", "yaml", "models", "get", "m"],
        ["--timeout", "0", "models", "get", "m"],
        ["models", "create", "m", "--tag", "no-equals-sign"],
        ["models", "create", "m", "--tag", "a=1", "--tag", "a=2"],
        ["versions", "create", "m"],
        ["versions", "create", "m", "--source", "s3://a", "--dataset", "colour=red"],
        ["versions", "create", "m", "--source", "s3://a", "--artifacts", "./out"],
        ["versions", "create", "m", "--artifacts", "./out", "--workers", "0"],
        ["versions", "finalize", "m", "1"],
        ["artifacts", "list", "m", "one"],
        ["download", "models:/m/1"],
        ["versions", "get", "m", "one"],
        ["versions", "get", "m", "0"],
        ["aliases", "set", "m", "a", "1", "--must-not-exist", "--expected-version", "1"],
        ["history", "m", "--limit", "0"],
        ["history", "--version", "2"],
        ["history", "--as-of", "2026-03-01"],
        ["history", "m", "--as-of", "2026-03-01", "--kind", "alias_set"],
        ["history", "m", "--as-of", "2026-03-01", "--limit", "3"],
        ["history", "m", "--since", "yesterday"],
        ["history", "m", "--since", "1772359200"],  # epoch seconds, not ms
        ["history", "m", "--until", "20260301"],  # a compact date, not ms
        ["search"],
        ["search", "models", "--all", "--page-token", "abc"],
        ["search", "versions", "--max-results", "0"],
        ["lineage", "by-dataset"],
        ["lineage", "show", "m"],
        ["lineage", "show", "m", "1", "--max-depth", "0"],
    ],
)
def test_usage_errors_exit_2_without_calling_the_server(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # No --target: a usage error must be reported before any connection.
    code, out, err = _offline(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "usage:" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T10:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01 10:00:00+02:00", datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("2026-03-01T08:00Z", datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("2026-03-01T10:00:00.123", datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        ("1772359200000", datetime(2026, 3, 1, 10, tzinfo=UTC)),
    ],
)
def test_times_are_iso_8601_or_epoch_ms_and_naive_means_utc(text: str, expected: datetime) -> None:
    assert timestamp(text) == round(expected.timestamp() * 1000)


def test_token_is_sent_as_a_bearer_header(
    target: str,
    model_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    made: list[RegistryClient] = []

    class Recording(RegistryClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(cli, "RegistryClient", Recording)
    code, _, err = _offline(
        capsys, "--target", target, "--token", "t0k", "models", "create", model_name
    )
    assert code == 0, err
    monkeypatch.setenv("REGISTRY_TOKEN", "from-env")
    code, _, err = _offline(capsys, "--target", target, "models", "get", model_name)
    assert code == 0, err
    sent = [dict(c._metadata).get("authorization") for c in made]
    assert sent == ["Bearer t0k", "Bearer from-env"]

    # A token gRPC could not send is a bad command line, caught before any call.
    code, out, err = _offline(
        capsys, "--target", target, "--token", "two words", "models", "get", "m"
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: token must be")


def test_a_reader_that_stops_early_gets_no_traceback(
    target: str, client: RegistryClient, model_name: str
) -> None:
    """`registry ... | head -1`: the pipe closes before the output is written."""
    client.create_registered_model(model_name)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "registry_client.cli", "--target", target, "models", "get",
             model_name],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (1, "")


def test_unreachable_server_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, out, err = _offline(
        capsys, "--target", f"127.0.0.1:{port}", "--timeout", "2", "models", "get", "m"
    )
    assert code == 1
    assert out == ""
    assert err.startswith("error: UNAVAILABLE: ")


def test_unreachable_server_says_how_to_start_one_or_where_to_point(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first command of someone without a server: gRPC's "failed to
    connect to all addresses" stays (it is the cause), then what to do."""
    target = f"127.0.0.1:{free_port()}"
    code, out, err = _offline(capsys, "--target", target, "--timeout", "2", "models", "list")
    assert (code, out) == (1, "")
    error, hint = err.split("\n", 1)
    assert error.startswith("error: UNAVAILABLE: failed to connect")
    assert hint.startswith(f"hint: no registry server answered at {target} (from --target).")
    assert "registry-server serve" in hint
    assert "--target HOST:PORT" in hint and "REGISTRY_TARGET=HOST:PORT" in hint

    monkeypatch.setenv("REGISTRY_TARGET", target)
    code, _, err = _offline(capsys, "--timeout", "2", "versions", "list", "m")
    assert code == 1
    assert f"answered at {target} (from $REGISTRY_TARGET)." in err


def test_an_unavailable_server_that_answered_gets_no_hint() -> None:
    """UNAVAILABLE from the server itself (its database is down) names its
    cause; telling the user to start a server would mislead."""
    assert cli._unreachable(Unavailable("failed to connect to all addresses; last error: ..."))
    assert not cli._unreachable(Unavailable("the metadata database is unavailable; retry"))
    assert not cli._unreachable(NotFound("failed to connect is in the model name"))


@pytest.mark.parametrize(
    ("argv", "commands"),
    [
        ([], ["models", "versions", "aliases", "artifacts", "resolve", "download", "history"]),
        (["versions"], ["list", "create", "get", "transition", "finalize", "delete-tag"]),
        (["models"], ["list", "create", "get", "rename", "latest"]),
        (["search"], ["models", "versions"]),
        (["--output", "json", "tokens"], ["create", "list", "revoke"]),
    ],
)
def test_a_group_without_a_command_lists_its_commands_and_exits_2(
    run: Run, argv: list[str], commands: list[str]
) -> None:
    """`registry` and `registry versions` alone: the help with the list of
    commands, on stderr with the usage status (2), so that a script that
    lost its command does not pass for a success."""
    code, out, err = run(*argv)
    assert (code, out) == (2, "")
    assert err.startswith("usage: registry")
    assert "error:" not in err
    listed = err.split("\n  COMMAND\n", 1)[1]
    for command in commands:
        assert re.search(rf"^    {re.escape(command)}\s", listed, flags=re.M), command


def test_bare_registry_lists_the_commands_through_the_console_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "registry_client.cli"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "models" in result.stderr and "registry versions create" in result.stderr


# --------------------------------------------------------------------------- registered models


def test_model_lifecycle(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    code, out, err = run(
        "models", "create", model_name, "--description", "Card fraud", "--tag", "team=risk"
    )
    assert (code, err) == (0, "")
    assert model_name in out
    assert "team=risk" in out

    model = run_json("models", "get", model_name)
    assert model["name"] == model_name
    assert model["description"] == "Card fraud"
    assert model["tags"] == {"team": "risk"}
    assert model["created_by"] == ACTOR
    assert "raw" not in model

    assert run_json("models", "update", model_name, "--description", "")["description"] == ""
    assert run("models", "set-tag", model_name, "owner", "alice")[0] == 0
    assert run("models", "delete-tag", model_name, "team")[0] == 0
    assert run_json("models", "get", model_name)["tags"] == {"owner": "alice"}

    code, _, err = run("models", "delete-tag", model_name, "team")
    assert code == 1
    assert err.startswith("error: NOT_FOUND: ")

    renamed = model_name + "-renamed"
    assert run_json("models", "rename", model_name, renamed)["name"] == renamed
    assert run("models", "delete", renamed)[0] == 0

    code, out, err = run("models", "get", renamed)
    assert (code, out) == (1, "")
    assert err.startswith("error: NOT_FOUND: ")
    assert renamed in err


def test_models_list_is_search_models_without_a_filter(
    run: Run, run_json: Callable[..., Any], model_name: str
) -> None:
    for suffix in ("a", "b"):
        assert run("models", "create", f"{model_name}-{suffix}")[0] == 0
    listed = run_json("models", "list", "--all")
    assert listed == run_json("search", "models", "--all")
    names = [m["name"] for m in listed["registered_models"]]
    assert [f"{model_name}-a", f"{model_name}-b"] == [n for n in names if n.startswith(model_name)]
    # One page: the same table and the same next-page hint as the search.
    assert run("models", "list", "--max-results", "1") == run(
        "search", "models", "--max-results", "1"
    )
    code, out, err = run("models", "list", "--max-results", "1")
    assert code == 0 and len(out.splitlines()) == 2  # header + one model
    assert "--page-token" in err


def test_versions_list_shows_the_versions_of_one_model(
    run: Run, run_json: Callable[..., Any], model_name: str
) -> None:
    # A quote in the name: the filter the command builds must escape it.
    name, other = f"{model_name}'s", f"{model_name}-other"
    for model in (name, other):
        assert run("models", "create", model)[0] == 0
    for source in ("s3://a", "s3://b"):
        assert run("versions", "create", name, "--source", source)[0] == 0
    assert run("versions", "create", other, "--source", "s3://c")[0] == 0

    listed = run_json("versions", "list", name)
    assert [(v["name"], v["version"]) for v in listed["model_versions"]] == [(name, 2), (name, 1)]
    assert listed["next_page_token"] is None
    quoted = name.replace("'", "''")
    assert listed == run_json("search", "versions", "--filter", f"name = '{quoted}'")
    code, out, err = run("versions", "list", name, "--order-by", "version_number ASC")
    assert (code, err) == (0, "")
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["1", "2"]

    # No versions yet: an empty list; no such model: NOT_FOUND, exit 1.
    empty = f"{model_name}-empty"
    assert run("models", "create", empty)[0] == 0
    assert run("versions", "list", empty) == (0, "(no versions)\n", "")
    code, out, err = run("versions", "list", f"{model_name}-missing")
    assert (code, out) == (1, "")
    assert err.startswith("error: NOT_FOUND: ")


def test_create_existing_model_fails(run: Run, model_name: str) -> None:
    assert run("models", "create", model_name)[0] == 0
    code, _, err = run("models", "create", model_name)
    assert code == 1
    assert err.startswith("error: ALREADY_EXISTS: ")


def test_target_from_environment(
    target: str,
    model_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REGISTRY_TARGET", target)
    monkeypatch.setenv("REGISTRY_ACTOR", "env-actor")
    code, _, err = _offline(capsys, "--output", "json", "models", "create", model_name)
    assert code == 0, err
    code, out, _ = _offline(capsys, "--output", "json", "models", "get", model_name)
    assert json.loads(out)["created_by"] == "env-actor"


# --------------------------------------------------------------------------- versions


def test_version_create_with_lineage_json(
    run: Run, run_json: Callable[..., Any], model_name: str
) -> None:
    assert run("models", "create", model_name)[0] == 0
    run_json("versions", "create", model_name, "--source", "s3://models/base")
    version = run_json(
        "versions", "create", model_name,
        "--source", "s3://models/fraud/42",
        "--run-id", "run-42",
        "--run-link", "http://ui/run-42",
        "--experiment-id", "exp-7",
        "--code-version", "3f2a9c1",
        "--description", "second",
        "--tag", "framework=xgboost",
        "--dataset", "name=tx-q1,digest=sha256:ab12,source=s3://data/tx/q1/",
        "--dataset", "name=holdout",
        "--parent", f"models:/{model_name}/latest",
    )  # fmt: skip
    for key in (
        "name", "version", "current_stage", "status", "aliases", "tags", "source", "run_id",
        "lineage", "creation_timestamp", "last_updated_timestamp",
    ):  # fmt: skip
        assert key in version, key
    assert version["name"] == model_name
    assert version["version"] == 2
    assert version["uri"] == f"models:/{model_name}/2"
    assert version["current_stage"] == "None"
    assert version["status"] == "READY"
    assert version["aliases"] == []
    assert version["tags"] == {"framework": "xgboost"}
    assert version["source"] == "s3://models/fraud/42"
    assert version["run_id"] == "run-42"
    assert version["created_by"] == ACTOR
    assert version["creation_timestamp"] > 0
    lineage = version["lineage"]
    assert lineage["run_id"] == "run-42"
    assert lineage["run_link"] == "http://ui/run-42"
    assert lineage["experiment_id"] == "exp-7"
    assert lineage["code_version"] == "3f2a9c1"
    assert lineage["parent_model_uri"] == f"models:/{model_name}/1"
    assert lineage["datasets"] == [
        {"name": "tx-q1", "digest": "sha256:ab12", "source_uri": "s3://data/tx/q1/"},
        {"name": "holdout", "digest": "", "source_uri": ""},
    ]

    code, out, _ = run("versions", "get", model_name, "2")
    assert code == 0
    assert "models:/" + model_name + "/2" in out
    assert "exp-7" in out


def test_idempotency_key_returns_the_same_version(
    run: Run, run_json: Callable[..., Any], model_name: str
) -> None:
    assert run("models", "create", model_name)[0] == 0
    argv = ("versions", "create", model_name, "--source", "s3://a", "--idempotency-key", "ci-7")
    assert run_json(*argv)["version"] == 1
    assert run_json(*argv)["version"] == 1
    assert run_json("models", "get", model_name)["last_version"] == 1


def test_version_commands(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    run_id = f"run-{model_name}"
    assert run("models", "create", model_name)[0] == 0
    for _ in range(2):
        run_json("versions", "create", model_name, "--source", "s3://a", "--run-id", run_id)

    assert (
        run_json("versions", "update", model_name, "1", "--description", "d")["description"] == "d"
    )
    assert run("versions", "set-tag", model_name, "1", "validated", "true")[0] == 0
    assert run_json("versions", "get", model_name, "1")["tags"] == {"validated": "true"}
    assert run("versions", "delete-tag", model_name, "1", "validated")[0] == 0
    assert run_json("versions", "get", model_name, "1")["tags"] == {}

    found = run_json("versions", "by-run", run_id)
    assert [(v["name"], v["version"]) for v in found] == [(model_name, 2), (model_name, 1)]
    code, out, _ = run("versions", "by-run", run_id)
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["NAME", "VERSION"]

    assert run("versions", "delete", model_name, "1")[0] == 0
    code, _, err = run("versions", "get", model_name, "1")
    assert code == 1
    assert err.startswith("error: NOT_FOUND: ")


def test_transition_and_latest(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    assert run("models", "create", model_name)[0] == 0
    for _ in range(3):
        run_json("versions", "create", model_name, "--source", "s3://a")

    assert (
        run_json("versions", "transition", model_name, "1", "production")["current_stage"]
        == "Production"
    )
    assert run_json("versions", "transition", model_name, "2", "staging")["current_stage"] == (
        "Staging"
    )
    moved = run_json("versions", "transition", model_name, "3", "Production", "--archive-existing")
    assert moved["current_stage"] == "Production"
    assert run_json("versions", "get", model_name, "1")["current_stage"] == "Archived"

    latest = run_json("models", "latest", model_name, "--stage", "production", "--stage", "staging")
    assert {v["current_stage"]: v["version"] for v in latest} == {"Production": 3, "Staging": 2}

    code, out, _ = run("models", "latest", model_name, "--stage", "Production")
    assert code == 0
    assert "Production" in out

    code, _, err = run("versions", "transition", model_name, "1", "Nowhere")
    assert code == 1
    assert err.startswith("error: INVALID_ARGUMENT: ")


# --------------------------------------------------------------------------- aliases and resolve


def test_alias_compare_and_swap(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    assert run("models", "create", model_name)[0] == 0
    for _ in range(3):
        run_json("versions", "create", model_name, "--source", "s3://a")

    code, out, err = run("aliases", "set", model_name, "champion", "1", "--must-not-exist")
    assert (code, err) == (0, "")
    assert f"{model_name}@champion -> version 1" in out

    code, out, err = run("aliases", "set", model_name, "champion", "2", "--must-not-exist")
    assert (code, out) == (1, "")
    assert err.startswith("error: FAILED_PRECONDITION: ")
    assert err.endswith("\n") and err.count("\n") == 1

    code, _, err = run("aliases", "set", model_name, "champion", "2", "--expected-version", "3")
    assert code == 1
    assert err.startswith("error: FAILED_PRECONDITION: ")
    assert run_json("aliases", "get", model_name, "champion")["version"] == 1

    moved = run_json("aliases", "set", model_name, "champion", "2", "--expected-version", "1")
    assert moved["version"] == 2
    assert moved["aliases"] == ["champion"]
    assert run_json("aliases", "set", model_name, "champion", "3")["version"] == 3
    assert run_json("models", "get", model_name)["aliases"] == {"champion": 3}

    assert run("aliases", "delete", model_name, "champion")[0] == 0
    code, _, err = run("aliases", "get", model_name, "champion")
    assert code == 1
    assert err.startswith("error: NOT_FOUND: ")


def test_resolve(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    assert run("models", "create", model_name)[0] == 0
    for _ in range(2):
        run_json("versions", "create", model_name, "--source", "s3://a")
    run_json("aliases", "set", model_name, "champion", "1")

    code, out, err = run("resolve", f"models:/{model_name}@champion/weights/model.bin")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == [
        "resolved_uri:",
        f"models:/{model_name}/1/weights/model.bin",
    ]

    resolved = run_json("resolve", f"models:/{model_name}/latest")
    assert resolved["resolved_uri"] == f"models:/{model_name}/2"
    assert resolved["path"] == ""
    assert resolved["model_version"]["version"] == 2

    code, _, err = run("resolve", f"models:/{model_name}@nobody")
    assert code == 1
    assert err.startswith("error: NOT_FOUND: ")
    code, _, err = run("resolve", "runs:/abc/model")
    assert code == 1
    assert err.startswith("error: INVALID_ARGUMENT: ")


# --------------------------------------------------------------------------- history


def test_history(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    assert run("models", "create", model_name)[0] == 0
    for i in range(5):
        assert run("models", "set-tag", model_name, f"k{i}", str(i))[0] == 0

    everything = run_json("history", model_name)
    events = everything["events"]
    assert everything["next_after_event_id"] == 0
    assert [e["kind"] for e in events] == ["model_created"] + ["model_tag_set"] * 5
    assert all(e["actor"] == ACTOR and e["model_name"] == model_name for e in events)
    assert events[0]["version"] is None
    assert events[1]["after"]["key"] == "k0"
    ids = [e["event_id"] for e in events]
    assert ids == sorted(ids)

    # --limit 4 asks for pages of 4, so this also walks past a page boundary.
    first = run_json("history", model_name, "--limit", "4")
    assert [e["event_id"] for e in first["events"]] == ids[:4]
    assert first["next_after_event_id"] == ids[3]
    rest = run_json("history", model_name, "--after", str(ids[3]))
    assert [e["event_id"] for e in rest["events"]] == ids[4:]
    assert run_json("history", model_name, "--limit", "6")["next_after_event_id"] == 0

    code, out, err = run("history", model_name, "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["EVENT", "TIME"]
    assert "MODEL" not in lines[0]  # one model: no column repeating its name
    assert "model_created" in lines[1]
    assert len(lines) == 3
    # Where to continue goes to stderr, so stdout stays a plain table.
    assert err.strip().endswith(f"--after {ids[1]}")


def test_history_of_deleted_model(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    assert run("models", "create", model_name)[0] == 0
    assert run("models", "delete", model_name)[0] == 0
    kinds = [e["kind"] for e in run_json("history", model_name)["events"]]
    assert kinds == ["model_created", "model_deleted"]

    code, _, err = run("history", model_name + "-never-existed")
    assert code == 1
    assert err.startswith("error: NOT_FOUND: ")


def test_aliases_set_reports_the_previous_version(
    target: str, client: RegistryClient, model_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client.create_registered_model(model_name)
    for i in range(2):
        client.create_model_version(model_name, source=f"s3://m/{i}")
    client.set_registered_model_alias(model_name, "champion", 1)
    code = main(
        ["--target", target, "--output", "json", "aliases", "set", model_name, "champion", "2"]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 2 and data["previous_version"] == 1
    assert main(["--target", target, "aliases", "set", model_name, "champion", "1"]) == 0
    assert "(was 2)" in capsys.readouterr().out
