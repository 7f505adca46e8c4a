"""`registry-server serve --log-format json` (REGISTRY_LOG_FORMAT): a server
process's log lines parsed back. Every line is one JSON object; a call's line
carries method, status, duration, principal and (with tracing on) the trace
id; caller text comes back exactly, while the text format keeps escaping it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.server_process import server_process

from registry_client import InvalidArgument, NotFound, RegistryClient
from registry_server.logs import JsonFormatter

HOSTILE = "evil\n2026-01-01 INFO forged \x1b[31mred\u202e"


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _calls(entries: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("method", "").endswith(f"/{method}")]


@pytest.mark.slow
def test_json_log_lines_carry_the_call_fields_and_exact_caller_text(tmp_path: Path) -> None:
    env = {"REGISTRY_LOG_FORMAT": "json", "REGISTRY_ACCESS_LOG": "true"}
    with server_process(
        f"sqlite:///{tmp_path / 'r.db'}",
        str(tmp_path / "artifacts"),
        tmp_path / "server.log",
        log_level="INFO",
        env=env,
    ) as server:
        with RegistryClient(server.target, actor="ci-bot") as client:
            client.create_registered_model("logged")
            with pytest.raises(NotFound):
                client.get_registered_model("missing-model")
            with pytest.raises(InvalidArgument):
                client.search_registered_models(f"tags.`{HOSTILE}` = 5")
        log = server.log()
    entries = _lines(log)  # every line parses: nothing but JSON objects
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    assert any("serving modelregistry.v1" in e["message"] for e in entries)
    (created,) = _calls(entries, "CreateRegisteredModel")
    assert created["status"] == "OK"
    assert created["principal"] == "ci-bot"
    assert created["level"] == "INFO"
    assert isinstance(created["duration_ms"], float) and created["duration_ms"] >= 0
    assert created["time"].endswith("+00:00")
    assert "trace_id" not in created  # tracing off
    (missing,) = _calls(entries, "GetRegisteredModel")
    assert missing["status"] == "NOT_FOUND"
    assert "missing-model" in missing["status_message"]
    (hostile,) = _calls(entries, "SearchRegisteredModels")
    assert hostile["status"] == "INVALID_ARGUMENT"
    # Exact in JSON (decoded back to the very characters sent)...
    assert HOSTILE in hostile["status_message"]
    # ...and never raw on a line: JSON escapes controls, ASCII-only output.
    assert log.isascii() and "\x1b" not in log
    assert len(log.splitlines()) == len(entries)


@pytest.mark.slow
def test_json_log_lines_carry_the_trace_id_when_tracing(tmp_path: Path) -> None:
    env = {
        "REGISTRY_LOG_FORMAT": "json",
        "REGISTRY_ACCESS_LOG": "true",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "registry-test",
    }
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("ci-job")
    with server_process(
        f"sqlite:///{tmp_path / 'r.db'}",
        str(tmp_path / "artifacts"),
        tmp_path / "server.log",
        log_level="INFO",
        env=env,
    ) as server:
        with RegistryClient(server.target) as client, tracer.start_as_current_span("job") as span:
            client.create_registered_model("traced-log")
        log = server.log()
    # The console exporter writes spans to stdout (multi-line JSON): read our lines only.
    entries = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')]
    (created,) = _calls(entries, "CreateRegisteredModel")
    assert created["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert any("tracing on (console exporter" in e["message"] for e in entries)


def test_text_format_stays_the_default_and_escapes_caller_text() -> None:
    logger = logging.getLogger("registry_server.calls")
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "%s", (HOSTILE,), None)
    for filter_ in logger.filters:
        filter_.filter(record)  # type: ignore[union-attr]
    text = logging.Formatter("%(message)s").format(record)
    assert "\n" not in text and "\x1b" not in text and "\\x1b" in text
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == HOSTILE


def test_a_bad_log_format_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "registry_server.cli", "serve", "--log-format", "xml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--log-format" in result.stderr
