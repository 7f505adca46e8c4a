"""The release pipeline of docs/cli.md runs as printed, against the real server.

The two shell scripts are taken from docs/cli.md verbatim and run with bash,
the installed `registry` command and jq, so the documented release and
rollback procedure cannot silently rot: registration with an idempotency key,
a test gate on the downloaded bytes, a compare-and-swap promotion, a retried
job, and a rollback found through the history.

It runs on the PostgreSQL + S3 backend only, the production shape: each step
is a new `registry` process, so the test costs seconds, and what differs
between backends is covered by the client's contract tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from registry_client import RegistryClient

CLI_DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
SECTION = "## A release pipeline in shell"
REGISTRY = Path(sys.executable).parent / "registry"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("bash") and shutil.which("jq") and REGISTRY.exists()),
        reason="the CI example needs bash, jq and the installed `registry` command",
    ),
]

# The gate of the example is the pipeline's own test; here: the file says "good".
CHECK_MODEL = '#!/bin/sh\ngrep -q good "$1/weights.bin"\n'


def _scripts() -> dict[str, str]:
    """ci/<name>.sh -> script text, from the sh blocks of the release pipeline section."""
    section = CLI_DOC.read_text().split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    scripts = {}
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        name = re.search(r"^# (ci/[\w-]+\.sh)", block, flags=re.M)
        assert name, f"a CI example block does not name its file:\n{block}"
        scripts[name.group(1)] = block
    return scripts


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A checkout as the scripts expect it: ci/*.sh and the trained ./model."""
    (tmp_path / "ci").mkdir()
    for name, text in {**_scripts(), "ci/check-model.sh": CHECK_MODEL}.items():
        path = tmp_path / name
        path.write_text(text)
        path.chmod(0o755)
    (tmp_path / "model").mkdir()
    return tmp_path


def test_the_docs_have_both_scripts() -> None:
    assert sorted(_scripts()) == ["ci/release.sh", "ci/rollback.sh"]


def test_release_gate_retry_and_rollback(
    workdir: Path, pg_target: str, pg_client: RegistryClient, model_name: str
) -> None:
    target, client = pg_target, pg_client
    env = {
        **os.environ,
        "PATH": f"{REGISTRY.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "REGISTRY_TARGET": target,
        "REGISTRY_ACTOR": "ci-bot",
        "MODEL": model_name,
    }
    env.pop("REGISTRY_TOKEN", None)

    def sh(script: str, *args: str, run_id: str = "", weights: str = "") -> int:
        if weights:
            (workdir / "model" / "weights.bin").write_text(weights)
        result = subprocess.run(
            ["bash", f"ci/{script}.sh", *args],
            cwd=workdir,
            env={**env, "RUN_ID": run_id},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.returncode

    def champion() -> int:
        return client.get_registered_model(model_name).aliases["champion"]

    # First release: creates the model, and @champion (expected version 0).
    assert sh("release", run_id="r1", weights="good 1") == 0
    assert champion() == 1
    assert client.get_model_version(model_name, 1).tags == {"validated": "true"}

    # A candidate that fails the gate is registered but never promoted.
    assert sh("release", run_id="r2", weights="bad") != 0
    assert champion() == 1
    assert client.get_model_version(model_name, 2).tags == {}

    assert sh("release", run_id="r3", weights="good 3") == 0
    assert champion() == 3
    # A retried job gets its version back and leaves @champion where it is.
    assert sh("release", run_id="r3", weights="good 3") == 0
    assert (client.get_registered_model(model_name).last_version, champion()) == (3, 3)

    # Rollback: back to the version 3 replaced; a second run changes nothing.
    assert sh("rollback", "3") == 0
    assert champion() == 1
    assert client.get_model_version(model_name, 3).tags["rolled_back"] == "true"
    assert sh("rollback", "3") != 0
    assert champion() == 1
    # Version 2 never was the champion: nothing to roll back to.
    assert sh("rollback", "2") != 0
    assert champion() == 1
