"""`registry history` end to end against the real server: events, paging, deleted models.

Everything goes through `registry_client.cli.main`, exactly as the console
script runs it, so exit codes, stdout and stderr are what a shell sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support.cli import ACTOR, Run


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
