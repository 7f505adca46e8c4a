"""Running the `registry` command line tool in-process, as its console script would.

The `run` and `run_json` fixtures (tests/conftest.py) call it against the test server;
`offline` calls it with nothing but the given arguments (no --target, no --actor).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from registry_client.cli import main

#: The actor the `run` fixture claims.
ACTOR = "cli-test"

#: `run(*argv, actor=ACTOR) -> (exit code, stdout, stderr)`
Run = Callable[..., tuple[int, str, str]]


def offline(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI with exactly `argv`: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
