"""Local folders as the registry sees them: artifact paths, the files to
upload, and their manifest (size and sha256 per file)."""

from __future__ import annotations

import hashlib
import os

from registry_client._errors import Internal
from registry_client.artifacts._parallel import CancelScope, run_parallel
from registry_client.types import ArtifactFile


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a valid artifact path (the server's rules), or None."""
    if not path:
        return "is empty"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "is absolute"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "contains control characters"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "has an empty, '.' or '..' segment"
    return None


def local_target(root: str, path: str) -> str:
    """Where the artifact ``path`` goes under ``root``, refusing to escape it.

    The server validates paths too; this check makes the client safe even
    against a server that does not.
    """
    problem = path_problem(path)
    target = os.path.join(root, *path.split("/"))
    if problem is None and os.path.commonpath([root, target]) != root:
        problem = "escapes the destination"
    if problem is not None:
        raise Internal(f"server sent an unsafe artifact path {path!r}: it {problem}")
    return target


def local_files(local_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(artifact path, local path)`` of every file under ``local_dir``, sorted.

    Regular files and symbolic links to regular files are taken; directories
    are walked (symbolic links to directories are not, they could loop).
    Anything else is refused rather than silently left out.
    """
    root = os.fspath(local_dir)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root!r} is not a directory")
    found: list[tuple[str, str]] = []

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, rel + "/")
                elif entry.is_file():
                    problem = path_problem(rel)
                    if problem is not None:
                        raise ValueError(f"{entry.path!r} cannot be uploaded: its path {problem}")
                    found.append((rel, entry.path))
                else:
                    raise ValueError(
                        f"{entry.path!r} is not a regular file or directory "
                        "(symbolic links to directories are not followed)"
                    )

    walk(root, "")
    found.sort()
    return found


def file_digest(local_path: str | os.PathLike[str]) -> tuple[int, str]:
    """``(size, sha256 hex)`` of a local file, read in chunks."""
    with open(local_path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256")
        return f.tell(), digest.hexdigest()


def compute_manifest(
    local_dir: str | os.PathLike[str], *, max_workers: int = 4
) -> list[ArtifactFile]:
    """The manifest of a local folder, as ``log_model_version`` uploads it.

    One entry per file (symbolic links to files included, links to folders
    refused), with its path relative to ``local_dir`` using '/', its size and
    sha256; sorted by path. Pass it to ``finalize_model_version`` after
    uploading the files yourself.
    """

    def entry(item: tuple[str, str]) -> ArtifactFile:
        size, sha256 = file_digest(item[1])
        return ArtifactFile(item[0], size, sha256)

    return run_parallel(entry, local_files(local_dir), max_workers, CancelScope())
