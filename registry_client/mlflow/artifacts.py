"""MLflow's artifact repository for registry-held files (read-only).

MLflow resolves ``models:/<name>/<version|stage|latest>`` and
``models:/<name>@<alias>`` through the registry store's
``get_model_version_download_uri``, then asks the artifact repository of the
URI's scheme for the files. For versions whose files the registry holds that
URI is ours (``registry_client.mlflow.files.version_artifact_uri``)::

    modelregistry+grpc://host:port/<percent-encoded name>/<version>[/<path>][?<options>]

and this class serves it, registered for ``modelregistry+grpc`` and
``modelregistry+grpcs`` under MLflow's ``mlflow.artifact_repository`` entry
points. Files come through ``RegistryClient``: from presigned URLs when the
server's store offers them, else streamed over gRPC, and every file is checked
against the manifest's size and sha256 before it is in place.

MLflow also builds repositories for a URI's parent and asks for the last
segment (``mlflow.artifacts.download_artifacts(uri)`` splits
``.../<name>/<version>`` into ``.../<name>`` and ``<version>``), so a URI that
stops at the name is accepted too: the version is then the first segment of
every path asked for.

Logging is refused: versions get their files through the registry store
(``log_model(..., registered_model_name=...)``), which checks them in whole.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
import uuid
from contextlib import suppress
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from registry_client import RegistryClient
from registry_client.mlflow._errors import mlflow_errors
from registry_client.mlflow.store import _connect
from registry_client.types import ArtifactFile

__all__ = ["RegistryArtifactRepository"]


@functools.lru_cache(maxsize=16)
def _client_for(base_uri: str) -> RegistryClient:
    """One client (one gRPC channel) per registry per process, built as the
    store builds its own (same URI options, same ``REGISTRY_*`` variables).

    MLflow builds a repository for every download it starts and offers no
    hook to close one; a channel per repository would be left to the garbage
    collector, so repositories for the same registry share one.
    """
    return _connect(base_uri)


#: MLflow's own download (lists, then ``_download_file`` per file on its thread
#: pool); typed Any because MLflow ships no annotations for it.
_file_by_file: Any = ArtifactRepository.download_artifacts


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=databricks_pb2.INVALID_PARAMETER_VALUE)


class RegistryArtifactRepository(ArtifactRepository):
    """The files of one registry-held version, as MLflow's artifact repository.

    Paths MLflow passes in are relative to the URI and '/'-separated, not
    percent-encoded; only the URI's own path is.
    """

    def __init__(
        self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
    ) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        parts = urlsplit(artifact_uri)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if not segments:
            raise _invalid(
                f"artifact URI {artifact_uri!r} names no model: expected "
                f"{parts.scheme}://host:port/<model name>/<version>"
            )
        self._name = segments[0]
        self._version: int | None = None
        if len(segments) > 1:
            self._version = _version(segments[1], artifact_uri)
        self._prefix = "/".join(segments[2:])
        self._base_uri = urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
        self._client = _client_for(self._base_uri)
        self._listings: dict[int, tuple[ArtifactFile, ...]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------- locating

    def _locate(self, path: str | None) -> tuple[int, str]:
        """``(version, path inside the model)`` of a path relative to the URI."""
        rel = (path or "").strip("/")
        if self._version is None:
            head, _, rel = rel.partition("/")
            if not head:
                raise _invalid(
                    f"{self.artifact_uri!r} names no version: ask for <version>/<path> "
                    "or use a URI that ends in the version"
                )
            version = _version(head, self.artifact_uri)
        else:
            version = self._version
        inner = "/".join(p for p in (self._prefix, rel) if p)
        return version, inner

    def _relative(self, version: int, inner: str) -> str:
        """The path inside the model as MLflow sees it: relative to the URI."""
        rel = inner[len(self._prefix) :].lstrip("/") if self._prefix else inner
        if self._version is None:
            return f"{version}/{rel}" if rel else str(version)
        return rel

    def _files(self, version: int) -> tuple[ArtifactFile, ...]:
        """The version's manifest, listed once: a READY version's files never
        change, and MLflow lists every folder of a model on its way down."""
        with self._lock:
            cached = self._listings.get(version)
        if cached is not None:
            return cached
        with mlflow_errors():
            files = tuple(self._client.list_artifacts(self._name, version))
        with self._lock:
            self._listings[version] = files
        return files

    # ------------------------------------------------------------- reading

    def list_artifacts(self, path: str | None = None) -> list[Any]:
        """Files and folders directly under ``path``; ``[]`` for a file or a
        path the version does not have, as MLflow's own repositories do."""
        version, inner = self._locate(path)
        below = f"{inner}/" if inner else ""
        entries: dict[str, Any] = {}
        for f in self._files(version):
            if not f.path.startswith(below):
                continue
            head, sep, _ = f.path[len(below) :].partition("/")
            child = below + head
            if child in entries:
                continue
            rel = self._relative(version, child)
            entries[child] = FileInfo(rel, True, None) if sep else FileInfo(rel, False, f.size)
        return [entries[k] for k in sorted(entries)]

    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        """Whole versions or folders in one ``RegistryClient.download_artifacts``
        call (presigned URLs, parallel, sha256 checked); MLflow's file by file
        way only where its layout differs from the client's, which puts files
        at their path inside the model."""
        version, inner = self._locate(artifact_path)
        rel = (artifact_path or "").strip("/")
        if self._prefix or self._version is None:
            return str(_file_by_file(self, artifact_path, dst_path))
        if dst_path:
            dst_path = os.path.abspath(dst_path)
            if not os.path.isdir(dst_path):
                raise MlflowException(
                    f"The destination path for downloaded artifacts must be an existing "
                    f"directory: {dst_path}",
                    error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST,
                )
        else:
            dst_path = tempfile.mkdtemp()
        files = self._files(version)
        if inner and not any(f.path == inner or f.path.startswith(inner + "/") for f in files):
            raise MlflowException(
                f"{self.artifact_uri!r} has no artifact {inner!r}",
                error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST,
            )
        uri = f"models:/{self._name}/{version}" + (f"/{inner}" if inner else "")
        with mlflow_errors():
            self._client.download_artifacts(uri, dst_path, max_workers=self.max_workers)
        return os.path.join(dst_path, *rel.split("/")) if rel else dst_path

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        """One file, streamed and checked against its sha256, written beside
        ``local_path`` and renamed into place, so a failed download leaves no
        partial file where MLflow will look."""
        version, inner = self._locate(remote_file_path)
        folder = os.path.dirname(os.path.abspath(local_path))
        os.makedirs(folder, exist_ok=True)
        temp = os.path.join(folder, f".{os.path.basename(local_path)[:100]}.{uuid.uuid4().hex}")
        try:
            with open(temp, "wb") as out, mlflow_errors():
                self._client.download_artifact(self._name, version, inner, out)
            os.replace(temp, local_path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    # ------------------------------------------------------------- writing

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        raise _read_only(self.artifact_uri)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        raise _read_only(self.artifact_uri)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        raise _read_only(self.artifact_uri)


def _read_only(uri: str) -> MlflowException:
    return MlflowException(
        f"{uri!r} is a registry-held model version, whose files do not change. To register "
        "new files, log the model with registered_model_name=... (or "
        "RegistryClient.log_model_version); to remove them, delete the version.",
        error_code=databricks_pb2.INVALID_STATE,
    )


def _version(segment: str, uri: str) -> int:
    if not segment.isdigit() or int(segment) < 1:
        raise _invalid(f"artifact URI {uri!r}: {segment!r} is not a version number")
    return int(segment)
