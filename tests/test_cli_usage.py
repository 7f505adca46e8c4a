"""The `registry` command line tool's usage errors (exit 2, before any call), times,
the bearer token, and what it says when no server answers or a pipe closes early.

Everything goes through `registry_client.cli.main`, exactly as the console
script runs it, so exit codes, stdout and stderr are what a shell sees.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from support.cli import Run, offline
from support.net import free_port

from registry_client import NotFound, RegistryClient, Unavailable, cli
from registry_client.cli.history import timestamp


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
    code, out, err = offline(capsys, *argv)
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
    code, _, err = offline(
        capsys, "--target", target, "--token", "t0k", "models", "create", model_name
    )
    assert code == 0, err
    monkeypatch.setenv("REGISTRY_TOKEN", "from-env")
    code, _, err = offline(capsys, "--target", target, "models", "get", model_name)
    assert code == 0, err
    sent = [dict(c._metadata).get("authorization") for c in made]
    assert sent == ["Bearer t0k", "Bearer from-env"]

    # A token gRPC could not send is a bad command line, caught before any call.
    code, out, err = offline(
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
    code, out, err = offline(
        capsys, "--target", f"127.0.0.1:{port}", "--timeout", "2", "models", "get", "m"
    )
    assert code == 1
    assert out == ""
    waiting, error = err.split("\n", 1)
    assert waiting == (
        f"waiting up to 1 s more for a registry server at 127.0.0.1:{port} (--timeout) ..."
    )
    assert error.startswith("error: UNAVAILABLE: ")


def test_unreachable_server_says_how_to_start_one_or_where_to_point(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first command of someone without a server: gRPC's "failed to
    connect to all addresses" stays (it is the cause), then what to do."""
    target = f"127.0.0.1:{free_port()}"
    code, out, err = offline(capsys, "--target", target, "--timeout", "2", "models", "list")
    assert (code, out) == (1, "")
    waiting, error, hint = err.split("\n", 2)
    assert waiting.startswith(f"waiting up to 1 s more for a registry server at {target}")
    assert error.startswith("error: UNAVAILABLE: failed to connect")
    assert hint.startswith(f"hint: no registry server answered at {target} (from --target).")
    assert "registry-server serve" in hint
    assert "--target HOST:PORT" in hint and "REGISTRY_TARGET=HOST:PORT" in hint

    monkeypatch.setenv("REGISTRY_TARGET", target)
    code, _, err = offline(capsys, "--timeout", "2", "versions", "list", "m")
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
