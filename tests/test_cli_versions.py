"""`registry versions ...`, `aliases ...` and `resolve` end to end against the real server.

Everything goes through `registry_client.cli.main`, exactly as the console
script runs it, so exit codes, stdout and stderr are what a shell sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from support.cli import ACTOR, Run

from registry_client import RegistryClient
from registry_client.cli import main


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
