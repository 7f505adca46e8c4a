"""`registry webhooks`: every command through the CLI, in table and JSON form,
against a server on SQLite that allows loopback receivers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import Run
from support.waiting import wait_until
from support.webhook_receiver import receiver

from registry_client import RegistryClient
from registry_server.config import ServerConfig
from registry_server.server import start

SECRET = "cli-webhook-secret-0123456789"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Overrides the session's server for `run`: one that allows loopback webhooks."""
    folder: Path = tmp_path_factory.mktemp("cli-webhooks")
    running = start(
        ServerConfig(
            database_url=f"sqlite:///{folder / 'registry.db'}",
            artifact_store=str(folder / "artifacts"),
            listen="127.0.0.1:0",
            allow_insecure_webhooks=True,
            allow_private_webhooks=True,
        )
    )
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(grace=0)


def test_the_webhook_commands(run: Run, run_json: Callable[..., Any], target: str) -> None:
    with receiver(SECRET) as hook:
        created = run_json(
            "webhooks", "create", hook.url, "--event", "model_created", "--model", "cli-m",
            "--secret", SECRET, "--description", "from the CLI",
        )  # fmt: skip
        webhook_id = created["webhook_id"]
        assert created["secret"] == SECRET
        assert (created["events"], created["models"]) == (["model_created"], ["cli-m"])

        code, out, _ = run("webhooks", "list")
        assert code == 0 and hook.url in out and "from the CLI" in out
        assert SECRET not in out
        listed = run_json("webhooks", "list")["webhooks"]
        assert [w["webhook_id"] for w in listed] == [webhook_id]
        assert "secret" not in listed[0]

        ping = run_json("webhooks", "test", str(webhook_id))
        assert ping["kind"] == "ping"
        with RegistryClient(target) as client:
            client.create_registered_model("cli-m")
        wait_until(lambda: len(hook.delivered()) == 2, what="the ping and the event")
        assert all(r.signed for r in hook.delivered())

        shown = wait_until(
            lambda: [
                d
                for d in run_json("webhooks", "deliveries", str(webhook_id))["deliveries"]
                if d["status"] == "delivered"
            ],
            what="deliveries listed as delivered",
        )
        assert sorted(d["kind"] for d in shown) == ["model_created", "ping"]
        code, out, _ = run("webhooks", "deliveries", str(webhook_id), "--status", "delivered")
        assert code == 0 and "ping" in out and "model_created" in out

    paused = run_json("webhooks", "update", str(webhook_id), "--disable", "--all-models")
    assert (paused["enabled"], paused["models"]) == (False, [])
    code, _, err = run("webhooks", "test", str(webhook_id))
    assert code == 1 and "FAILED_PRECONDITION" in err
    code, _, err = run("webhooks", "create", "ftp://127.0.0.1/x")
    assert code == 1 and "INVALID_ARGUMENT: url" in err
    assert json.loads(run("--output", "json", "webhooks", "delete", str(webhook_id))[1]) == {
        "webhook_id": webhook_id,
        "deleted": True,
    }
    code, out, _ = run("webhooks", "list")
    assert code == 0 and out.strip() == "(no webhooks)"
