"""The README's Python examples run as written against a live server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_examples_run(
    target: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The artifact example needs a model folder; tests/test_artifacts_client.py
    # covers log_model_version and download_artifacts.
    blocks = [b for b in _python_blocks() if "fraud-detector" in b and "log_model_version" not in b]
    assert len(blocks) >= 2
    monkeypatch.setenv("REGISTRY_TARGET", target)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"models:/fraud-detector/\d+", out)
