"""`registry watch` as a shell runs it: a separate process against a server process on
PostgreSQL, its stdout read as JSON Lines or text, `--exec` running a real command per event.

A process per command costs about a second each: those tests are in the slow lane.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import offline
from support.server_process import server_process

from registry_client import RegistryClient
from registry_client.cli._format import to_jsonable


@pytest.fixture(scope="module")
def target(pg_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("cli-watch")
    with server_process(
        pg_database_url,
        str(folder / "artifacts"),
        folder / "server.log",
        workers=8,
        env={"REGISTRY_WATCH_HEARTBEAT": "0.5"},
    ) as server:
        yield server.target


@pytest.fixture(scope="module")
def client(target: str) -> Iterator[RegistryClient]:
    with RegistryClient(target, actor="cli-watch-test") as c:
        yield c


@pytest.fixture
def model(client: RegistryClient, model_name: str) -> str:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://bucket/1")
    client.create_model_version(model_name, source="s3://bucket/2")
    client.set_registered_model_alias(model_name, "champion", 1)
    return model_name


def registry(target: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "registry_client.cli", "--target", target, *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["REGISTRY_ACTOR"] = "cli-watcher"
    return env


def run(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        registry(target, *args),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_json_lines_one_object_per_event(target: str, client: RegistryClient, model: str) -> None:
    history = list(client.iter_model_events(model))
    done = run(target, "--output", "json", "watch", model, "--from-beginning", "--limit", "4")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [json.loads(line) for line in lines] == to_jsonable(history)
    assert "watching after event 0" in done.stderr


@pytest.mark.slow
def test_text_lines_escape_what_the_registry_holds(
    target: str, client: RegistryClient, model: str
) -> None:
    client.set_registered_model_tag(model, "note", "\x1b[2Jgone\nforged")
    done = run(target, "watch", model, "--from-beginning", "--kind=model_tag_set", "--limit=1")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert "\x1b" not in line
    assert "\\x1b[2Jgone\\nforged" in line
    assert model in line and "model_tag_set" in line
    cursor = client.list_model_events(model, kinds=["model_tag_set"]).events[0].event_id
    assert f"to continue: --after {cursor}" in done.stderr


@pytest.mark.slow
def test_exec_runs_the_command_per_event_with_the_event(
    target: str, client: RegistryClient, model: str, tmp_path: Path
) -> None:
    """Live: the watch is started, then the alias moves. (Started after the last event
    rather than "from now", which begins where the server's event feed stands and may
    still include the fixture's alias move, committed a moment before.)"""
    out = tmp_path / "hook.jsonl"
    script = (
        "import json, os, sys\n"
        "record = {k: v for k, v in os.environ.items() if k.startswith('REGISTRY_EVENT_')}\n"
        "record['stdin'] = sys.stdin.read()\n"
        f"open({str(out)!r}, 'a').write(json.dumps(record) + '\\n')\n"
        "print('deployed', os.environ['REGISTRY_EVENT_VERSION'])\n"
    )
    hook = shlex.join([sys.executable, "-c", script])
    process = subprocess.Popen(
        [
            *registry(target, "--output=json", "watch", model, "--alias=champion", "--limit=2"),
            *("--after", str(list(client.iter_model_events(model))[-1].event_id)),
            "--exec",
            hook,
        ],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline().startswith("watching after event")
        client.set_registered_model_alias(model, "champion", 2)
        client.set_registered_model_alias(model, "canary", 2)  # another alias: no event
        client.delete_registered_model_alias(model, "champion")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    moved, deleted = (json.loads(line) for line in stdout.splitlines())
    assert (moved["kind"], deleted["kind"]) == ("alias_set", "alias_deleted")
    assert stderr.count("deployed 2") == 2  # the command's stdout goes to stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2
    for record, event in zip(records, (moved, deleted), strict=True):
        assert json.loads(record.pop("stdin")) == event
        assert json.loads(record.pop("REGISTRY_EVENT_JSON")) == event
        assert record == {
            "REGISTRY_EVENT_ID": str(event["event_id"]),
            "REGISTRY_EVENT_KIND": event["kind"],
            "REGISTRY_EVENT_MODEL": model,
            "REGISTRY_EVENT_VERSION": "2",
            "REGISTRY_EVENT_ACTOR": "cli-watch-test",
            "REGISTRY_EVENT_TIMESTAMP": str(event["timestamp"]),
            "REGISTRY_EVENT_ALIAS": "champion",
            "REGISTRY_EVENT_CURSOR": str(event["event_id"]),
        }


@pytest.mark.slow
def test_a_failing_command_is_reported_and_the_watch_goes_on_or_stops(
    target: str, client: RegistryClient, model: str
) -> None:
    first, second = list(client.iter_model_events(model))[:2]
    failing = shlex.join([sys.executable, "-c", "import sys; sys.exit(3)"])
    done = run(target, "watch", model, "--from-beginning", "--limit", "2", "--exec", failing)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2
    assert f"exited with status 3 for event {first.event_id}" in done.stderr
    assert f"exited with status 3 for event {second.event_id}" in done.stderr

    done = run(
        target, "watch", model, "--after", str(first.event_id), "--exec", failing,
        "--exec-fail", "stop",
    )  # fmt: skip
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 1
    assert f"exited with status 3 for event {second.event_id}" in done.stderr
    assert f"to handle it again, watch with --after {first.event_id}" in done.stderr

    done = run(target, "watch", model, "--limit", "1", "--from-beginning", "--exec", "no-such-cmd")
    assert done.returncode == 0
    assert "--exec command no-such-cmd could not be started" in done.stderr


@pytest.mark.slow
def test_ctrl_c_ends_the_watch_quietly_with_status_130(target: str, model: str) -> None:
    process = subprocess.Popen(
        registry(target, "watch", model),
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline().startswith("watching after event")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert stdout == "" and stderr == ""


@pytest.mark.slow
def test_an_unknown_kind_is_refused_naming_the_field(target: str, model: str) -> None:
    done = run(target, "watch", model, "--kind", "alias_moved")
    assert done.returncode == 1
    assert "INVALID_ARGUMENT" in done.stderr and "kind" in done.stderr
    assert done.stdout == ""


def test_contradictory_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = offline(capsys, "watch", "m", "--after", "3", "--from-beginning")
    assert code == 2 and "exclude each other" in err
    code, _, err = offline(capsys, "watch", "m", "--exec-fail", "stop")
    assert code == 2 and "--exec-fail needs --exec" in err
    code, _, err = offline(capsys, "watch", "m", "--exec", "'unclosed")
    assert code == 2 and "--exec" in err
