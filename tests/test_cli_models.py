"""`registry models ...` (and `versions list`) end to end against the real server.

Everything goes through `registry_client.cli.main`, exactly as the console
script runs it, so exit codes, stdout and stderr are what a shell sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from support.cli import ACTOR, Run, offline


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
    code, _, err = offline(capsys, "--output", "json", "models", "create", model_name)
    assert code == 0, err
    code, out, _ = offline(capsys, "--output", "json", "models", "get", model_name)
    assert json.loads(out)["created_by"] == "env-actor"
