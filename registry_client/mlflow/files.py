"""A version's files: where MLflow's registry store creates versions and says
where their files are (``VersionFilesMixin``, mixed into ``RegistryStore``).

Two kinds of versions come out of ``create_model_version``:

* **registry-held**: MLflow hands over the model folder it just wrote
  (``log_model(..., registered_model_name=...)`` passes ``local_model_path``),
  or the store URI asks for copies (``?copy_artifacts=true``) and the files
  are downloaded from ``source`` first. The folder is uploaded with
  ``RegistryClient.log_model_version``: every file is checked against the
  sha256 the server stored, and the version is READY only then, so MLflow's
  wait for READY (``_await_model_version_creation``) ends at once.
* **pointer**: anything else records ``source`` as given, like MLflow's own
  stores, and MLflow keeps fetching the files from there.

What MLflow says about the model that our version has no field for is kept in
version tags under ``modelregistry.mlflow.``: ``source`` (MLflow's source URI,
for registry-held versions, whose own ``source`` is their ``models:/`` URI)
and ``model_id`` (MLflow 3's logged model). The run goes into the lineage:
``run_id``, ``run_link`` and the logged model's ``experiment_id``.

``get_model_version_download_uri`` gives registry-held versions a URI of the
registry's own scheme, served by ``registry_client.mlflow.artifacts``; see
``version_artifact_uri`` for its shape.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from registry_client.mlflow._entities import to_mlflow_version
from registry_client.mlflow._errors import mlflow_errors
from registry_client.types import Lineage

if TYPE_CHECKING:
    from registry_client import RegistryClient

__all__ = [
    "COPY_ARTIFACTS_OPTION",
    "MODEL_ID_TAG",
    "SOURCE_TAG",
    "TAG_PREFIX",
    "VersionFilesMixin",
    "copy_artifacts_requested",
    "version_artifact_uri",
]

#: Version tags this module writes; MLflow's own tags never start so.
TAG_PREFIX = "modelregistry.mlflow."
#: MLflow's ``source`` of a version whose files the registry holds.
SOURCE_TAG = TAG_PREFIX + "source"
#: MLflow 3's logged model (``m-...``) a version was registered from.
MODEL_ID_TAG = TAG_PREFIX + "model_id"
#: Store URI option: copy the files of ``register_model(source)`` into the registry.
COPY_ARTIFACTS_OPTION = "copy_artifacts"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def copy_artifacts_requested(store_uri: str) -> bool:
    """Whether ``store_uri`` carries ``copy_artifacts=true`` (or 1/yes/on).

    A query option of the registry URI rather than a process-wide setting: it
    travels with ``MLFLOW_REGISTRY_URI`` to every process that registers, and
    one program can hold one store that copies and one that does not.
    """
    for key, value in parse_qsl(urlsplit(store_uri).query, keep_blank_values=True):
        if key == COPY_ARTIFACTS_OPTION:
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise MlflowException(
                f"registry URI option {COPY_ARTIFACTS_OPTION}={value!r}: expected true or false",
                error_code=databricks_pb2.INVALID_PARAMETER_VALUE,
            )
    return False


def version_artifact_uri(store_uri: str, name: str, version: int) -> str:
    """``<scheme>://<host:port>/<name>/<version>[?<the store URI's options>]``.

    The name is percent-encoded as one path segment (``quote(name, safe="")``),
    so any name the registry allows (spaces, ``%``, ``?``, ``#``, non-ASCII)
    comes back unchanged from ``unquote``; names cannot contain ``/``. The
    version is a number, never an alias or stage: the URI names files that do
    not change, even if an alias moves while MLflow downloads. The store URI's
    options (TLS files, timeout) are kept, so the download connects the way
    the store does.
    """
    parts = urlsplit(store_uri)
    path = f"/{quote(name, safe='')}/{int(version)}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class VersionFilesMixin:
    """``create_model_version`` and ``get_model_version_download_uri`` of the store.

    The store sets ``client`` (its ``RegistryClient``), ``store_uri`` (the
    registry URI it was built from) and, when MLflow gives one,
    ``tracking_uri`` (where logged models and runs are looked up).
    """

    client: RegistryClient
    store_uri: str
    tracking_uri: str | None = None

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Iterable[Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> Any:
        """Create the next version of ``name``: registry-held when there are
        local files (or copies are asked for), else a pointer to ``source``.

        MLflow 3's ``log_model`` passes ``run_id=None`` and a ``model_id``;
        the run is then the logged model's source run, looked up through the
        tracking URI as MLflow's own store does, so the version's run_id is
        the training run.
        """
        tag_map = _tag_map(tags)
        experiment_id = ""
        if model_id:
            tag_map.setdefault(MODEL_ID_TAG, model_id)
            if not run_id:
                logged = self._logged_model(model_id)
                run_id = getattr(logged, "source_run_id", None) or None
                experiment_id = str(getattr(logged, "experiment_id", "") or "")
        lineage = Lineage(run_id=run_id or "", run_link=run_link or "", experiment_id=experiment_id)
        if local_model_path is not None:
            return self._log_files(name, local_model_path, source, tag_map, lineage, description)
        if copy_artifacts_requested(self.store_uri):
            return self._copy_files(name, source, tag_map, lineage, description)
        with mlflow_errors():
            mv = self.client.create_model_version(
                name, source=source, tags=tag_map, description=description, lineage=lineage
            )
        return to_mlflow_version(mv)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Our own URI for registry-held files; a pointer's ``source`` as it was
        recorded, so MLflow fetches those files as it always did."""
        with mlflow_errors():
            mv = self.client.get_model_version(name, version)
        if mv.registry_held_artifacts:
            return version_artifact_uri(self.store_uri, mv.name, mv.version)
        return mv.source

    # ------------------------------------------------------------------ helpers

    def _log_files(
        self,
        name: str,
        local_dir: str,
        source: str,
        tags: dict[str, str],
        lineage: Lineage,
        description: str | None,
    ) -> Any:
        """Upload ``local_dir`` as a READY registry-held version; MLflow's
        ``source`` is kept in a tag (the version's own source is its URI)."""
        if source:
            tags.setdefault(SOURCE_TAG, source)
        if not os.path.isdir(local_dir):
            raise MlflowException(
                f"cannot register {local_dir!r}: the model's files must be a folder",
                error_code=databricks_pb2.INVALID_PARAMETER_VALUE,
            )
        with mlflow_errors():
            mv = self.client.log_model_version(
                name, local_dir, tags=tags, description=description, lineage=lineage
            )
        return to_mlflow_version(mv)

    def _copy_files(
        self,
        name: str,
        source: str,
        tags: dict[str, str],
        lineage: Lineage,
        description: str | None,
    ) -> Any:
        """Download ``source`` with MLflow's own artifact repositories, then
        upload it as a registry-held version. The temporary copy goes away
        whether or not the upload works."""
        import mlflow.artifacts  # MLflow's heavier modules only when copying

        with tempfile.TemporaryDirectory(prefix="modelregistry-copy-") as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=source, dst_path=tmp, tracking_uri=self.tracking_uri
                )
            except MlflowException as exc:
                raise MlflowException(
                    f"copy_artifacts: could not download {source!r} to copy it into the "
                    f"registry: {exc.message}",
                    error_code=databricks_pb2.ErrorCode.Value(exc.error_code),
                ) from exc
            _drop_download_marker(source, local)
            return self._log_files(name, local, source, tags, lineage, description)

    def _logged_model(self, model_id: str) -> Any:
        """MLflow 3's logged model ``model_id``, from the tracking server."""
        import mlflow

        try:
            return mlflow.MlflowClient(tracking_uri=self.tracking_uri).get_logged_model(model_id)
        except MlflowException as exc:
            raise MlflowException(
                f"cannot find the run of logged model {model_id!r} through the tracking URI "
                f"{self.tracking_uri or mlflow.get_tracking_uri()!r}: {exc.message}",
                error_code=databricks_pb2.ErrorCode.Value(exc.error_code),
            ) from exc


def _drop_download_marker(source: str, local: str) -> None:
    """Remove the ``registered_model_meta`` file MLflow writes into a model folder it
    downloads from a ``models:/`` URI: it is not one of the model's files (the
    logged model has no such file), and MLflow writes it again on every download."""
    from mlflow.store.artifact.models_artifact_repo import REGISTERED_MODEL_META_FILE_NAME

    marker = os.path.join(local, REGISTERED_MODEL_META_FILE_NAME)
    if urlsplit(source).scheme == "models" and os.path.isfile(marker):
        os.unlink(marker)


def _tag_map(tags: Any) -> dict[str, str]:
    """MLflow passes a list of ``ModelVersionTag``; a mapping is accepted too."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(tag.key): str(tag.value) for tag in tags}
