"""Model versions: create, read, describe, move between stages, tag, delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._args import _tag_messages, _version_number
from registry_client._transport import Transport
from registry_client.types import Lineage, ModelVersion


class VersionsMixin(Transport):
    def create_model_version(
        self,
        name: str,
        source: str = "",
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        *,
        lineage: Lineage | None = None,
        idempotency_key: str | None = None,
        registry_held_artifacts: bool = False,
    ) -> ModelVersion:
        """Create the next version of ``name``.

        With ``registry_held_artifacts`` the registry holds the files: leave
        ``source`` empty; the version starts PENDING_REGISTRATION until
        ``finalize_model_version`` (``log_model_version`` does all of it).

        ``run_id``/``run_link`` are MLflow's shortcuts for the same lineage
        fields; if both forms are given they must agree. Without an explicit
        ``idempotency_key`` a fresh one is generated, which makes this
        client's own retries safe; pass your own key to make *your* retries
        (e.g. a re-run CI job) safe too.
        """
        request = pb.CreateModelVersionRequest(
            name=name,
            source=source,
            run_id=run_id or "",
            run_link=run_link or "",
            description=description or "",
            tags=_tag_messages(tags),
            idempotency_key=idempotency_key or uuid.uuid4().hex,
            registry_held_artifacts=registry_held_artifacts,
        )
        if lineage is not None:
            request.lineage.CopyFrom(lineage._to_proto())
        response = self._call("CreateModelVersion", request)
        return ModelVersion._from_proto(response.model_version)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        request = pb.GetModelVersionRequest(name=name, version=_version_number(version))
        response = self._call("GetModelVersion", request)
        return ModelVersion._from_proto(response.model_version)

    def update_model_version(self, name: str, version: int | str, description: str) -> ModelVersion:
        """Replace the description; an empty string clears it."""
        request = pb.UpdateModelVersionRequest(
            name=name, version=_version_number(version), description=description
        )
        response = self._call("UpdateModelVersion", request)
        return ModelVersion._from_proto(response.model_version)

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version and its aliases; the number is never reused."""
        request = pb.DeleteModelVersionRequest(name=name, version=_version_number(version))
        self._call("DeleteModelVersion", request)

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to a stage (any case).

        With ``archive_existing_versions`` (Staging/Production only) the other
        versions in that stage are archived in the same transaction.
        """
        request = pb.TransitionModelVersionStageRequest(
            name=name,
            version=_version_number(version),
            stage=stage,
            archive_existing_versions=archive_existing_versions,
        )
        response = self._call("TransitionModelVersionStage", request)
        return ModelVersion._from_proto(response.model_version)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        request = pb.SetModelVersionTagRequest(
            name=name, version=_version_number(version), key=key, value=value
        )
        self._call("SetModelVersionTag", request)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        request = pb.DeleteModelVersionTagRequest(
            name=name, version=_version_number(version), key=key
        )
        self._call("DeleteModelVersionTag", request)
