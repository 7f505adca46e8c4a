"""Our frozen dataclasses as MLflow's entities.

MLflow users get what ``MlflowClient`` returns from MLflow's own tracking
server (``RestStore``, whose entities come from ``from_proto``), field by
field, so code written against it keeps working:

* versions are strings (``"3"``), also as alias targets in
  ``RegisteredModel.aliases``: MLflow's REST API sends them so;
* a version's ``description``, ``run_id`` and ``status_message`` are None when
  empty (unset fields of MLflow's proto), a model's ``description`` and a
  version's ``run_link`` are ``""`` (MLflow reads those without presence);
* ``user_id`` is who created the version (``created_by``), which MLflow's
  server leaves empty.

What MLflow knows about a version that the registry has no field for, the
files mixin (``files.py``) keeps in version tags under ``modelregistry.mlflow.``:
MLflow's ``source`` of a registry-held version and MLflow 3's ``model_id``.
They come back here as those fields, not as tags, so a version reads as MLflow
wrote it (a registry-held version's own ``source`` is its ``models:/`` URI;
``get_model_version_download_uri`` gives where its files are).
"""

from __future__ import annotations

from typing import Any

from mlflow.entities import model_registry

from registry_client.types import ModelVersion, RegisteredModel

__all__ = ["to_mlflow_model", "to_mlflow_version"]

# MLflow's constructors carry no annotations; typed Any here, once.
_entities: Any = model_registry

# files.TAG_PREFIX, SOURCE_TAG and MODEL_ID_TAG (files.py imports this module,
# so they are spelled out here; a test checks they agree).
_TAG_PREFIX = "modelregistry.mlflow."
_SOURCE_TAG = _TAG_PREFIX + "source"
_MODEL_ID_TAG = _TAG_PREFIX + "model_id"


def to_mlflow_version(mv: ModelVersion) -> Any:
    """An ``mlflow.entities.model_registry.ModelVersion`` (typed Any: MLflow
    ships no type information for mypy)."""
    tags = mv.tags
    source = mv.source
    model_id = None
    if any(key.startswith(_TAG_PREFIX) for key in tags):
        source = tags.get(_SOURCE_TAG) or source
        model_id = tags.get(_MODEL_ID_TAG) or None
        tags = {k: v for k, v in tags.items() if not k.startswith(_TAG_PREFIX)}
    return _entities.ModelVersion(
        name=mv.name,
        version=str(mv.version),
        creation_timestamp=mv.creation_timestamp,
        last_updated_timestamp=mv.last_updated_timestamp,
        description=mv.description or None,
        user_id=mv.created_by,
        current_stage=mv.current_stage,
        source=source,
        run_id=(mv.run_id or mv.lineage.run_id) or None,
        status=mv.status,
        status_message=mv.status_message or None,
        tags=[_entities.ModelVersionTag(k, v) for k, v in tags.items()],
        run_link=mv.lineage.run_link,
        aliases=list(mv.aliases),
        model_id=model_id,
    )


def to_mlflow_model(rm: RegisteredModel) -> Any:
    """An ``mlflow.entities.model_registry.RegisteredModel``, with its latest
    version per stage and its aliases."""
    return _entities.RegisteredModel(
        name=rm.name,
        creation_timestamp=rm.creation_timestamp,
        last_updated_timestamp=rm.last_updated_timestamp,
        description=rm.description,
        latest_versions=[to_mlflow_version(v) for v in rm.latest_versions],
        tags=[_entities.RegisteredModelTag(k, v) for k, v in rm.tags.items()],
        aliases=[_entities.RegisteredModelAlias(a, str(v)) for a, v in rm.aliases.items()],
    )
