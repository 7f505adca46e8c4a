"""Progress bars of `registry versions create --artifacts` and `registry download`.

The renderer is tested with a fake terminal and a fake clock (what it draws,
how often); the CLI end to end with stderr on a real pseudo-terminal, since
"is stderr a terminal?" is exactly what decides whether a bar appears.
"""

from __future__ import annotations

import io
import json
import os
import select
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_client.cli import main
from registry_client.cli._progress import ProgressBar

MiB = 1 << 20


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _draws(text: str) -> list[str]:
    """Each redraw of the line, without the padding and the final newline."""
    return [draw.rstrip() for draw in text.split("\r")[1:]]


def test_bar_redraws_at_most_ten_times_a_second_and_always_at_the_end() -> None:
    tty, clock = FakeTty(), FakeClock()
    bar = ProgressBar(tty, "uploading", clock=clock)
    bar(0, 1000)  # the first update is drawn
    bar(10, 1000)  # same instant: skipped
    clock.now += 0.05
    bar(20, 1000)  # 50 ms after the last draw: skipped
    clock.now += 0.06
    bar(500, 1000)  # 110 ms: drawn
    bar(1000, 1000)  # the last update is drawn however soon it comes
    bar.close()
    draws = _draws(tty.getvalue())
    assert draws == [
        "uploading [" + "-" * 30 + "]   0%  0 B / 1000 B",
        "uploading [" + "#" * 15 + "-" * 15 + "]  50%  500 B / 1000 B",
        "uploading [" + "#" * 30 + "] 100%  1000 B / 1000 B",
    ]
    assert tty.getvalue().endswith("\n")


def test_a_shorter_line_overwrites_a_longer_one_completely() -> None:
    tty, clock = FakeTty(), FakeClock()
    bar = ProgressBar(tty, "downloading", clock=clock)
    bar(1023, 2 * MiB)
    clock.now += 1
    # A retried file takes its bytes back: the line gets shorter.
    bar(5, 2 * MiB)
    first, second = tty.getvalue().split("\r")[1:]
    assert len(second) == len(first)
    assert second.rstrip().endswith("5 B / 2.0 MiB")


@pytest.mark.parametrize("stream", [io.StringIO(), object()])
def test_bar_is_silent_when_not_on_a_terminal(stream: object) -> None:
    bar = ProgressBar(stream, "uploading")  # type: ignore[arg-type]
    bar(0, 10)
    bar(10, 10)
    bar.close()
    assert not bar.enabled
    if isinstance(stream, io.StringIO):
        assert stream.getvalue() == ""


def test_empty_transfer_shows_complete() -> None:
    tty = FakeTty()
    bar = ProgressBar(tty, "uploading")
    bar(0, 0)
    bar.close()
    assert "100%" in tty.getvalue()


# --------------------------------------------------------------------------- end to end


class Terminal:
    """A pseudo-terminal to put in place of sys.stderr."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.master, slave = os.openpty()
        self.stream = os.fdopen(slave, "w", encoding="utf-8")

    def attach(self) -> None:
        # Called from the test body: pytest installs capsys's own sys.stderr
        # when the test starts running, after fixtures are set up.
        self._monkeypatch.setattr(sys, "stderr", self.stream)

    def read(self) -> str:
        """What the terminal showed since the last read."""
        self.stream.flush()
        chunks = []
        while select.select([self.master], [], [], 0.05)[0]:
            chunks.append(os.read(self.master, 1 << 16))
        # The terminal turns "\n" into "\r\n"; undo that for the assertions.
        return b"".join(chunks).decode().replace("\r\n", "\n")

    def close(self) -> None:
        self._monkeypatch.undo()
        self.stream.close()
        os.close(self.master)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    term = Terminal(monkeypatch)
    yield term
    term.close()


def test_upload_and_download_draw_a_bar_on_a_terminal(
    target: str,
    model_name: str,
    tmp_path: Path,
    terminal: Terminal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = tmp_path / "model"
    (src / "weights").mkdir(parents=True)
    (src / "weights" / "model.bin").write_bytes(os.urandom(3 * MiB))
    (src / "config.json").write_text("{}")
    base = ["--target", target, "--actor", "cli-test"]
    assert main([*base, "models", "create", model_name]) == 0
    capsys.readouterr()
    terminal.attach()

    code = main(
        [*base, "--output", "json", "versions", "create", model_name, "--artifacts", str(src)]
    )
    shown = terminal.read()
    assert code == 0, shown
    assert json.loads(capsys.readouterr().out)["status"] == "READY"  # stdout stays clean
    draws = _draws(shown)
    assert draws[0].startswith("uploading [")
    assert draws[-1].endswith("100%  3.0 MiB / 3.0 MiB")
    assert shown.endswith("\n")  # the bar's line is ended

    dst = tmp_path / "dl"
    assert main([*base, "download", f"models:/{model_name}/1", str(dst)]) == 0
    shown = terminal.read()
    assert _draws(shown)[-1].startswith("downloading [" + "#" * 30 + "] 100%")
    assert "models:/" in capsys.readouterr().out
    assert (dst / "weights" / "model.bin").read_bytes() == (
        src / "weights" / "model.bin"
    ).read_bytes()


def test_a_failure_before_any_transfer_shows_only_the_error(
    target: str, model_name: str, tmp_path: Path, terminal: Terminal
) -> None:
    terminal.attach()
    code = main(["--target", target, "download", f"models:/{model_name}/1", str(tmp_path / "d")])
    assert code == 1
    shown = terminal.read()
    assert shown.startswith("error: NOT_FOUND: ")
    assert shown.count("\n") == 1 and "\r" not in shown
