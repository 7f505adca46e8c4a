"""The `registry` query commands (search, lineage, history filters, --as-of)
end to end against the real server, through `registry_client.cli.main`.

The server's own rules (filter grammar, ordering, history rebuilding) are
tested against the client elsewhere; these tests check what the CLI adds:
argument mapping, paging, the table and JSON shapes, and exit codes.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from support.cli import Run
from support.waiting import clock_past

from registry_client import RegistryClient


def _column(out: str, header: str) -> list[str]:
    """The first column of a table whose first column may contain spaces
    (the lineage tree): everything left of ``header`` on each row."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if f"  {header}" in line)
    width = lines[start].index(header)
    return [line[:width].rstrip() for line in lines[start + 1 :]]


def _cells(out: str, header: str) -> list[str]:
    """The word starting at ``header``'s column on each row (times span words)."""
    lines = out.splitlines()
    start = lines[0].index(header)
    return [line[start:].split()[0] for line in lines[1:]]


# --------------------------------------------------------------------------- search


def test_search_models_filters_orders_and_pages(
    run: Run, run_json: Callable[..., Any], model_name: str
) -> None:
    names = [f"{model_name}-{i}" for i in range(3)]
    for i, name in enumerate(names):
        assert run("models", "create", name, "--tag", f"team={'ops' if i == 2 else 'risk'}")[0] == 0
    run_json("versions", "create", names[1], "--source", "s3://a")
    run_json("aliases", "set", names[1], "champion", "1")
    mine = f"name LIKE '{model_name}-%'"

    doc = run_json("search", "models", "--filter", mine)
    assert [m["name"] for m in doc["registered_models"]] == names
    assert doc["next_page_token"] is None
    assert doc["registered_models"][1]["aliases"] == {"champion": 1}
    assert "raw" not in doc["registered_models"][0]

    risky = run_json("search", "models", "--filter", f"{mine} AND tags.team = 'risk'")
    assert [m["name"] for m in risky["registered_models"]] == names[:2]
    champions = run_json("search", "models", "--filter", f"{mine} AND alias = 'champion'")
    assert [m["name"] for m in champions["registered_models"]] == [names[1]]
    backwards = run_json("search", "models", "--filter", mine, "--order-by", "name DESC")
    assert [m["name"] for m in backwards["registered_models"]] == names[::-1]

    first = run_json("search", "models", "--filter", mine, "--max-results", "2")
    assert [m["name"] for m in first["registered_models"]] == names[:2]
    assert isinstance(first["next_page_token"], str) and first["next_page_token"]
    rest = run_json(
        "search", "models", "--filter", mine, "--max-results", "2",
        "--page-token", first["next_page_token"],
    )  # fmt: skip
    assert [m["name"] for m in rest["registered_models"]] == names[2:]
    assert rest["next_page_token"] is None

    # --all walks every page (here three pages of one).
    everything = run_json("search", "models", "--filter", mine, "--all", "--max-results", "1")
    assert [m["name"] for m in everything["registered_models"]] == names
    assert everything["next_page_token"] is None

    # Table: rows on stdout, the next page's token on stderr, usable as printed.
    code, out, err = run("search", "models", "--filter", mine, "--max-results", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "LAST_VERSION"]
    assert [line.split()[0] for line in lines[1:]] == names[:2]
    assert "champion=1" in lines[2]
    token = shlex.split(err.strip().rsplit("--page-token ", 1)[1])[0]
    code, out, err = run("search", "models", "--filter", mine, "--page-token", token)
    assert (code, err) == (0, "")
    assert [line.split()[0] for line in out.splitlines()[1:]] == names[2:]

    code, out, err = run("search", "models", "--filter", f"{mine} AND")
    assert (code, out) == (1, "")
    assert err.startswith("error: INVALID_ARGUMENT: ")
    code, out, _ = run("search", "models", "--filter", f"name = '{model_name}-none'")
    assert (code, out.strip()) == (0, "(no models)")


def test_search_versions(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    digest = f"sha256:{model_name}"
    assert run("models", "create", model_name)[0] == 0
    run_json(
        "versions", "create", model_name, "--source", "s3://a", "--dataset", f"digest={digest}"
    )
    run_json("versions", "create", model_name, "--source", "s3://b", "--tag", "validated=true")
    run_json("versions", "create", model_name, "--source", "s3://c")
    run_json("aliases", "set", model_name, "champion", "2")
    run_json("versions", "transition", model_name, "3", "Production")
    mine = f"name = '{model_name}'"

    def numbers(*argv: str) -> list[int]:
        doc = run_json("search", "versions", *argv)
        assert doc["next_page_token"] is None
        return [v["version"] for v in doc["model_versions"]]

    assert numbers("--filter", mine) == [3, 2, 1]  # newest first by default
    assert numbers("--filter", mine, "--order-by", "version_number ASC") == [1, 2, 3]
    assert numbers("--filter", f"{mine} AND alias = 'champion'") == [2]
    assert numbers("--filter", f"{mine} AND tags.validated = 'true'") == [2]
    assert numbers("--filter", f"{mine} AND current_stage = 'Production'") == [3]
    assert numbers("--filter", f"dataset.digest = '{digest}'") == [1]
    assert numbers("--filter", mine, "--all", "--max-results", "2") == [3, 2, 1]

    version = run_json("search", "versions", "--filter", f"{mine} AND version_number = 2")
    found = version["model_versions"][0]
    assert (found["uri"], found["aliases"]) == (f"models:/{model_name}/2", ["champion"])

    code, out, err = run("search", "versions", "--filter", mine, "--max-results", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "VERSION"]
    assert lines[1].split()[:3] == [model_name, "3", "Production"]
    assert len(lines) == 2
    assert "--page-token " in err

    code, _, err = run("search", "versions", "--filter", "colour = 'red'")
    assert code == 1
    assert err.startswith("error: INVALID_ARGUMENT: ")


# --------------------------------------------------------------------------- lineage


def test_lineage_by_run_dataset_and_tree(
    run: Run, run_json: Callable[..., Any], model_name: str
) -> None:
    base, derived = f"{model_name}-base", f"{model_name}-derived"
    run_id, digest = f"run-{model_name}", f"sha256:{model_name}"
    for name in (base, derived):
        assert run("models", "create", name)[0] == 0
    run_json(
        "versions", "create", base, "--source", "s3://base/1", "--run-id", run_id,
        "--dataset", f"name=tx,digest={digest}",
    )  # fmt: skip
    run_json(
        "versions", "create", derived, "--source", "s3://d/1", "--run-id", run_id,
        "--dataset", f"digest={digest}", "--parent", f"models:/{base}/1",
    )  # fmt: skip
    run_json(
        "versions", "create", derived, "--source", "s3://d/2", "--parent", f"models:/{derived}/1"
    )
    run_json("versions", "create", base, "--source", "s3://base/2", "--parent", f"models:/{base}/1")

    for argv in (("lineage", "by-run", run_id), ("versions", "by-run", run_id)):
        assert [(v["name"], v["version"]) for v in run_json(*argv)] == [(derived, 1), (base, 1)]
    by_data = run_json("lineage", "by-dataset", digest)
    assert [(v["name"], v["version"]) for v in by_data] == [(derived, 1), (base, 1)]
    code, out, _ = run("lineage", "by-dataset", digest)
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["NAME", "VERSION"]
    assert run_json("lineage", "by-dataset", f"sha256:none-{model_name}") == []

    doc = run_json("lineage", "show", derived, "1")
    assert doc["model_version"]["uri"] == f"models:/{derived}/1"
    assert [v["uri"] for v in doc["ancestors"]] == [f"models:/{base}/1"]
    assert [v["uri"] for v in doc["descendants"]] == [f"models:/{derived}/2"]
    assert doc["truncated"] is False

    # From the root, the table draws the whole tree.
    code, out, err = run("lineage", "show", base, "1")
    assert (code, err) == (0, "")
    assert _column(out, "STAGE") == [
        f"models:/{base}/1 *",
        f"|-- models:/{base}/2",
        f"`-- models:/{derived}/1",
        f"    `-- models:/{derived}/2",
    ]
    # From the middle: the ancestors above, the version marked, then below.
    code, out, _ = run("lineage", "show", derived, "2")
    assert _column(out, "STAGE") == [
        f"models:/{base}/1",
        f"`-- models:/{derived}/1",
        f"    `-- models:/{derived}/2 *",
    ]

    shallow = run_json("lineage", "show", base, "1", "--max-depth", "1")
    assert {v["uri"] for v in shallow["descendants"]} == {
        f"models:/{base}/2",
        f"models:/{derived}/1",
    }
    assert shallow["truncated"] is True
    code, out, _ = run("lineage", "show", base, "1", "--max-depth", "1")
    assert out.rstrip().endswith("limit was hit)")

    code, out, err = run("lineage", "show", base, "9")
    assert (code, out) == (1, "")
    assert err.startswith("error: NOT_FOUND: ")


# --------------------------------------------------------------------------- history


def test_history_filters(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    assert run("models", "create", model_name)[0] == 0
    for _ in range(2):
        run_json("versions", "create", model_name, "--source", "s3://a")
    run_json("versions", "transition", model_name, "2", "Staging")
    run_json("aliases", "set", model_name, "champion", "1")
    run_json("aliases", "set", model_name, "champion", "2", actor="release-bot")
    run_json("aliases", "set", model_name, "canary", "2")
    events = run_json("history", model_name)["events"]

    def kinds(*argv: str) -> list[tuple[str, int | None]]:
        found = run_json("history", model_name, *argv)["events"]
        return [(e["kind"], e["version"]) for e in found]

    of_two = kinds("--version", "2")
    assert of_two == [(e["kind"], 2) for e in events if e["version"] == 2]
    assert ("version_created", 2) in of_two
    assert kinds("--alias", "champion") == [("alias_set", 1), ("alias_set", 2)]
    assert kinds("--kind", "version_stage_changed", "--kind", "alias_set") == [
        ("version_stage_changed", 2),
        ("alias_set", 1),
        ("alias_set", 2),
        ("alias_set", 2),
    ]
    assert kinds("--actor", "release-bot") == [("alias_set", 2)]

    # --since is inclusive, --until exclusive; an offset is honoured and a
    # time without one is UTC.
    pivot = events[3]["timestamp"]
    at = datetime.fromtimestamp(pivot / 1000, tz=UTC)
    as_plus_two = at.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    as_naive_utc = at.replace(tzinfo=None).isoformat(timespec="milliseconds")
    later = [e["event_id"] for e in events if e["timestamp"] >= pivot]
    earlier = [e["event_id"] for e in events if e["timestamp"] < pivot]
    for since in (str(pivot), as_plus_two, as_naive_utc):
        found = run_json("history", model_name, "--since", since)["events"]
        assert [e["event_id"] for e in found] == later, since
    found = run_json("history", model_name, "--until", as_plus_two)["events"]
    assert [e["event_id"] for e in found] == earlier

    code, out, err = run("history", model_name, "--alias", "champion")
    assert (code, err) == (0, "")
    assert _cells(out, "KIND") == ["alias_set", "alias_set"]

    code, _, err = run("history", model_name, "--kind", "alias_moved")
    assert code == 1
    assert err.startswith("error: INVALID_ARGUMENT: ")


def test_history_across_models(run: Run, run_json: Callable[..., Any], model_name: str) -> None:
    actor = f"bot-{model_name}"  # only this test acts as it, so the listing is ours
    names = [f"{model_name}-a", f"{model_name}-b"]
    for name in names:
        run_json("models", "create", name, actor=actor)
    run_json("models", "set-tag", names[0], "k", "v", actor=actor)

    found = run_json("history", "--actor", actor)["events"]
    assert [(e["model_name"], e["kind"]) for e in found] == [
        (names[0], "model_created"),
        (names[1], "model_created"),
        (names[0], "model_tag_set"),
    ]
    code, out, err = run("history", "--actor", actor, "--kind", "model_created")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["EVENT", "TIME", "ACTOR", "MODEL", "KIND"]
    assert _cells(out, "MODEL") == names

    first = run_json("history", "--actor", actor, "--limit", "2")
    assert len(first["events"]) == 2
    rest = run_json("history", "--actor", actor, "--after", str(first["next_after_event_id"]))
    assert [e["kind"] for e in rest["events"]] == ["model_tag_set"]


def test_history_as_of(
    run: Run, run_json: Callable[..., Any], client: RegistryClient, model_name: str
) -> None:
    assert run("models", "create", model_name)[0] == 0
    for _ in range(2):
        run_json("versions", "create", model_name, "--source", "s3://a")
    run_json("versions", "transition", model_name, "1", "Production")
    run_json("aliases", "set", model_name, "champion", "1")
    then = run_json("history", model_name)["events"][-1]["timestamp"]
    clock_past(then)  # the next change lands in a later millisecond
    run_json("versions", "transition", model_name, "2", "Production", "--archive-existing")
    run_json("aliases", "set", model_name, "champion", "2", "--expected-version", "1")

    past = run_json("history", model_name, "--as-of", str(then))
    assert past["name"] == model_name
    assert past["as_of_timestamp"] == then
    assert past["aliases"] == {"champion": 1}
    assert past["stages"] == {"Production": [1], "Staging": [], "None": [2], "Archived": []}
    assert {v["version"]: v["current_stage"] for v in past["versions"]} == {
        1: "Production",
        2: "None",
    }

    iso = datetime.fromtimestamp(then / 1000, tz=UTC).isoformat(timespec="milliseconds")
    code, out, err = run("history", model_name, "--as-of", iso)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert ["Production:", "1"] in [line.split() for line in lines]
    assert ["aliases:", "champion=1"] in [line.split() for line in lines]
    assert lines[lines.index("") + 1].split() == ["VERSION", "STAGE", "STATUS"]

    now = run_json("history", model_name, "--as-of", datetime.now(UTC).isoformat())
    assert now["stages"]["Production"] == [2]
    assert now["stages"]["Archived"] == [1]
    assert now["aliases"] == {"champion": 2}

    created = client.get_registered_model(model_name).creation_timestamp
    code, out, err = run("history", model_name, "--as-of", str(created - 1000))
    assert (code, out) == (1, "")
    assert err.startswith("error: NOT_FOUND: ")
