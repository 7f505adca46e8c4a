"""Model folders and what the artifact tests compare them by.

`make_model_dir` builds the folder the `src` fixture (tests/conftest.py) uploads;
`file_tree` and `mtimes` read a folder back; `BrokenConnection` is what a dropped
connection looks like to the client.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import grpc

from registry_client import ArtifactFile

MiB = 1024 * 1024


def make_model_dir(root: Path) -> Path:
    """Nested folders, an empty file, a 3 MiB random file (several chunks)."""
    src = root / "model-out"
    (src / "weights" / "shards").mkdir(parents=True)
    (src / "conf").mkdir()
    (src / "weights" / "model.bin").write_bytes(os.urandom(3 * MiB + 17))
    (src / "weights" / "shards" / "part-0").write_bytes(os.urandom(1000))
    (src / "conf" / "params.json").write_text('{"depth": 6}')
    (src / "empty.txt").write_bytes(b"")
    (src / "README").write_text("fraud model\n")
    return src


def file_tree(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def mtimes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def manifest_entry(path: str, data: bytes) -> ArtifactFile:
    return ArtifactFile(path, len(data), hashlib.sha256(data).hexdigest())


class BrokenConnection(grpc.RpcError):
    """What a dropped connection looks like to the client."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection dropped (test)"
