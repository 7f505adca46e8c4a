"""The examples in README.md and docs/*.md run as printed, in order, against one fresh server.

The convention, for whoever writes the documentation:

- A fenced block tagged ``python``, ``sh``, ``bash`` or ``console`` is an example, and is run.
  Blocks with any other tag (``text``, ``yaml``, ``proto``, none) are only shown.
- An HTML comment starting with ``<!-- not run`` on the line before the fence (blank lines
  may separate them) marks an example that is only shown. Say why, e.g.
  ``<!-- not run: needs a Kubernetes cluster -->``, and keep them rare: an example that runs
  cannot silently rot. The README's two install commands are such blocks (CI runs the second
  one from .ci/run); so are the scripts tests/test_cli_ci_example.py runs in its own way.
- Order: README.md first, then the documents in the order of the README's "Documentation"
  table, each top to bottom. Every block runs in one working directory (a fresh, empty
  folder, as a reader's shell would be) against one fresh server (`registry-server serve` on
  the embedded SQLite store and a local artifact folder), so a block may use what an earlier
  one made: the README's quickstart creates `fraud-detector`, and the docs build on it.
- ``python`` blocks run with the virtualenv's interpreter. ``sh`` and ``bash`` blocks run with
  ``bash -e -o pipefail``: every command must succeed. In ``console`` blocks the lines that
  start with ``$ `` are the commands (a trailing backslash continues one); the other lines
  are their output, shown for the reader and not compared.
- The environment: the virtualenv's bin folder first on PATH (so `registry` and `python` are
  the installed ones, as after `. .venv/bin/activate`), REGISTRY_TARGET naming the server,
  and no other REGISTRY_* variable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.server_process import ServerProcess, server_process

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
RUN = {"python", "sh", "bash", "console"}
MAX_README_LINES = 300

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<lang>[\w+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    run: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order, with their not-run marks."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        body = "".join(line[indent:] + "\n" for line in lines[i + 1 : end])
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marked = before >= 0 and lines[before].strip().startswith("<!-- not run")
        lang = opening["lang"].lower()
        found.append(Block(path, i + 1, lang, body, lang in RUN and not marked))
        i = end + 1
    return found


def documents() -> list[Path]:
    """README.md, then docs/*.md in the order the README's table links them."""
    linked = re.findall(r"^\| \[docs/([\w-]+\.md)\]", README.read_text(), flags=re.M)
    return [README, *(DOCS / name for name in linked)]


def _commands(console: str) -> str:
    """The commands of a console block (lines after `$ `, with their continuations)."""
    script, continued = [], False
    for line in console.splitlines():
        if line.startswith("$ ") or continued:
            command = line[2:] if line.startswith("$ ") and not continued else line
            script.append(command)
            continued = command.endswith("\\")
    return "\n".join(script) + "\n"


# ----------------------------------------------------------------- the documents' shape


def test_the_readme_is_a_door_not_the_house() -> None:
    assert len(README.read_text().splitlines()) <= MAX_README_LINES


def test_every_document_is_in_the_readme_table() -> None:
    listed = documents()[1:]
    assert all(path.exists() for path in listed), listed
    assert sorted(listed) == sorted(DOCS.glob("*.md"))


def test_the_install_commands_open_the_readme_and_are_not_run() -> None:
    first, second = blocks(README)[:2]
    assert first.text.strip().endswith(".venv/bin/registry-server serve") and not first.run
    assert second.text.strip() == (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[server,test]' "
        "&& .venv/bin/python -m pytest -q"
    )
    assert not second.run


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_relative_links_reach_a_file_and_heading() -> None:
    broken = []
    for doc in [README, *DOCS.glob("*.md")]:
        text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
        for link in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"\w+:", link):
                continue
            file, _, anchor = link.partition("#")
            target = (doc.parent / file).resolve() if file else doc
            if not target.exists() or (anchor and anchor not in _anchors(target)):
                broken.append(f"{doc.relative_to(ROOT)}: {link}")
    assert not broken


# ------------------------------------------------------------------- running the examples


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("readme-server")
    with server_process(
        f"sqlite:///{folder / 'registry.db'}", str(folder / "artifacts"), folder / "server.log"
    ) as server:
        yield server


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("bash") and shutil.which("jq") and (BIN / "registry").exists()),
    reason="the examples need bash, jq and the installed `registry` command",
)
def test_every_example_runs_in_order_on_a_fresh_server(
    fresh_server: ServerProcess, tmp_path: Path
) -> None:
    workdir, scripts = tmp_path / "work", tmp_path / "scripts"
    workdir.mkdir()
    scripts.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        REGISTRY_TARGET=fresh_server.target,
        VIRTUAL_ENV=str(BIN.parent),
        PYTHONUNBUFFERED="1",
    )
    examples = [b for doc in documents() for b in blocks(doc) if b.run]
    assert sum(b.path == README for b in examples) >= 6
    for number, block in enumerate(examples):
        script = scripts / f"{number:03d}-{block.path.stem}-{block.line}"
        if block.lang == "python":
            script = script.with_suffix(".py")
            script.write_text(block.text)
            command = [str(BIN / "python"), str(script)]
        else:
            script = script.with_suffix(".sh")
            script.write_text(_commands(block.text) if block.lang == "console" else block.text)
            command = ["bash", "-e", "-o", "pipefail", str(script)]
        result = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=180
        )
        if result.returncode != 0:
            pytest.fail(
                f"the {block.lang} example at {block.where} failed "
                f"(exit {result.returncode}):\n{block.text}\n"
                f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}\n"
                f"--- server log\n{fresh_server.log()[-2000:]}"
            )
