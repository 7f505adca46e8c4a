"""Caller text never reaches a log line or a terminal raw.

A filter holding a newline once forged a whole server log line, and tag values
holding terminal escape sequences (clear screen, OSC title) were printed as-is
by ``registry models get`` and ``registry history``. Logs and the CLI's text
output escape control and format characters; the CLI's JSON stays exact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from support.cli import Run

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client.cli._format import printable
from registry_server.text import escape

FORGED = "tags.`x\n2026-12-06 22:00:00,000 INFO registry_server.calls DeleteRegisteredModel OK` = 5"
HOSTILE_VALUE = "\x1b[2J\x1b]0;pwned\x07 \u202eevil\nsecond line"


def test_escape_writes_controls_and_format_characters_visibly() -> None:
    assert escape("a\nb\x1b[2J\u202e\u200b\x85\u2028") == "a\\nb\\x1b[2J\\u202e\\u200b\\x85\\u2028"
    assert escape("plain ü text") == "plain ü text"
    assert printable("a\nb\x1b") == "a\\nb\\x1b"
    assert printable("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_a_forged_filter_is_one_log_line(
    stub: registry_pb2_grpc.ModelRegistryStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="registry_server.calls")
    with pytest.raises(grpc.RpcError):
        stub.SearchModelVersions(pb.SearchModelVersionsRequest(filter=FORGED), timeout=10)
    lines = [
        caplog.handler.format(r)
        for r in caplog.records
        if r.name == "registry_server.calls" and "SearchModelVersions" in r.getMessage()
    ]
    assert len(lines) == 1, lines
    assert "\n" not in lines[0]
    assert "\\n2026-12-06" in lines[0]


def test_an_unhandled_error_message_cannot_add_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("registry_server.calls")
    caplog.set_level(logging.INFO, logger="registry_server.calls")
    try:
        raise ValueError("boom\nforged line \x1b[2J")
    except ValueError as exc:
        log.error("unhandled error in %s", "Method\nforged", exc_info=exc)
    (record,) = [r for r in caplog.records if r.name == "registry_server.calls"]
    text = caplog.handler.format(record)
    assert "Method\\nforged" in text
    assert "ValueError: boom\\nforged line \\x1b[2J" in text
    assert "\x1b" not in text
    assert not any(line.startswith("forged") for line in text.splitlines())


def test_the_cli_prints_hostile_values_escaped_and_json_exact(
    run: Run, run_json: Callable[..., Any], model_name: str
) -> None:
    code, out, err = run(
        "models",
        "create",
        model_name,
        "--tag",
        f"note={HOSTILE_VALUE}",
        "--description",
        "d\x1b]8;;\nforged: line",
    )
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out

    code, out, err = run("models", "get", model_name)
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "note=\\x1b[2J\\x1b]0;pwned\\x07 \\u202eevil\\nsecond line" in out
    assert "second line" not in out.split("note=")[0]
    assert not any(line.startswith("second line") for line in out.splitlines())
    assert "d\\x1b]8;;\\nforged: line" in out
    assert not any(line.lstrip().startswith("forged") for line in out.splitlines())

    model = run_json("models", "get", model_name)
    assert model["tags"] == {"note": HOSTILE_VALUE}
    assert model["description"] == "d\x1b]8;;\nforged: line"

    code, out, err = run("history", model_name)
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "[2J" in out and "\\u202eevil" in out
    assert len(out.strip().splitlines()) == 2  # the header and the one event
    events = run_json("history", model_name)["events"]
    assert events[0]["after"]["tags"] == {"note": HOSTILE_VALUE}
