"""The admin-only import path: models, versions and aliases created with the
numbers, times and creators another registry gave them (``registry import
mlflow`` is built on these). They only ever create: an existing model is
returned unchanged, an existing identical version is reported as already
imported, a different one is refused with ``AlreadyExists``, and an alias is
never moved."""

from __future__ import annotations

from collections.abc import Mapping

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._args import _tag_messages, _version_number
from registry_client._transport import Transport
from registry_client.types import ImportedAlias, ImportedModel, ImportedVersion, Lineage

__all__ = ["ImportsMixin"]

_STATUSES = {
    "READY": pb.MODEL_VERSION_STATUS_READY,
    "FAILED_REGISTRATION": pb.MODEL_VERSION_STATUS_FAILED_REGISTRATION,
    "PENDING_REGISTRATION": pb.MODEL_VERSION_STATUS_PENDING_REGISTRATION,
}


class ImportsMixin(Transport):
    def import_registered_model(
        self,
        name: str,
        *,
        creation_timestamp: int,
        last_updated_timestamp: int = 0,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        created_by: str = "",
        imported_from: str = "",
    ) -> ImportedModel:
        """Create ``name`` with its original timestamps and creator, unless a
        model of that name exists (returned unchanged, ``created`` False).
        Global admins only."""
        request = pb.ImportRegisteredModelRequest(
            name=name,
            description=description,
            tags=_tag_messages(tags),
            creation_timestamp=creation_timestamp,
            last_updated_timestamp=last_updated_timestamp,
            created_by=created_by,
            imported_from=imported_from,
        )
        return ImportedModel._from_proto(self._call("ImportRegisteredModel", request))

    def import_model_version(
        self,
        name: str,
        version: int | str,
        *,
        creation_timestamp: int,
        last_updated_timestamp: int = 0,
        source: str = "",
        run_id: str = "",
        run_link: str = "",
        lineage: Lineage | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        stage: str = "",
        status: str = "READY",
        status_message: str = "",
        created_by: str = "",
        registry_held_artifacts: bool = False,
        imported_from: str = "",
    ) -> ImportedVersion:
        """Create version ``version`` of ``name`` with that number, its
        original timestamps, creator, stage, tags and description, in one
        transaction, if the number is free; the model's counter becomes at
        least ``version``. The same version existing already is reported
        (``already_imported``); a different one raises ``AlreadyExists``.
        ``status`` is ``READY`` or ``FAILED_REGISTRATION``. With
        ``registry_held_artifacts`` the version starts PENDING_REGISTRATION:
        upload its files and finalize it. Global admins only."""
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {', '.join(_STATUSES)}, got {status!r}")
        merged = lineage._to_proto() if lineage is not None else pb.Lineage()
        if run_id:
            merged.run_id = run_id
        if run_link:
            merged.run_link = run_link
        request = pb.ImportModelVersionRequest(
            name=name,
            version=_version_number(version),
            source=source,
            lineage=merged,
            description=description,
            tags=_tag_messages(tags),
            stage=stage,
            status=_STATUSES[status],
            status_message=status_message,
            creation_timestamp=creation_timestamp,
            last_updated_timestamp=last_updated_timestamp,
            created_by=created_by,
            registry_held_artifacts=registry_held_artifacts,
            imported_from=imported_from,
        )
        return ImportedVersion._from_proto(self._call("ImportModelVersion", request))

    def import_registered_model_alias(
        self, name: str, alias: str, version: int | str, *, imported_from: str = ""
    ) -> ImportedAlias:
        """Create ``alias`` pointing at ``version`` unless the model has one of
        that name: pointing there already is reported (``already_imported``),
        pointing elsewhere raises ``FailedPrecondition`` (never moved).
        Global admins only."""
        request = pb.ImportRegisteredModelAliasRequest(
            name=name, alias=alias, version=_version_number(version), imported_from=imported_from
        )
        return ImportedAlias._from_proto(self._call("ImportRegisteredModelAlias", request))
