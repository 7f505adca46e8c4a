"""Conversions of the import RPCs (ImportRegisteredModel, ImportModelVersion):
requests to the domain's import dataclasses (domain/imports.py)."""

from __future__ import annotations

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_server.api.convert import lineage_from_proto, tags_from_proto
from registry_server.domain.entities import VersionStatus
from registry_server.domain.errors import InvalidArgument
from registry_server.domain.imports import ModelImport, VersionImport

_STATUSES = {
    pb.MODEL_VERSION_STATUS_UNSPECIFIED: VersionStatus.READY,
    pb.MODEL_VERSION_STATUS_READY: VersionStatus.READY,
    pb.MODEL_VERSION_STATUS_PENDING_REGISTRATION: VersionStatus.PENDING_REGISTRATION,
    pb.MODEL_VERSION_STATUS_FAILED_REGISTRATION: VersionStatus.FAILED_REGISTRATION,
}


def model_import_from_proto(req: pb.ImportRegisteredModelRequest) -> ModelImport:
    return ModelImport(
        name=req.name,
        creation_timestamp=req.creation_timestamp,
        last_updated_timestamp=req.last_updated_timestamp,
        description=req.description,
        tags=tags_from_proto(req.tags),
        created_by=req.created_by,
        imported_from=req.imported_from,
    )


def version_import_from_proto(req: pb.ImportModelVersionRequest) -> VersionImport:
    status = _STATUSES.get(req.status)
    if status is None:
        raise InvalidArgument(f"status: unknown value {req.status}")
    return VersionImport(
        name=req.name,
        version=req.version,
        creation_timestamp=req.creation_timestamp,
        last_updated_timestamp=req.last_updated_timestamp,
        source=req.source,
        lineage=lineage_from_proto(req.lineage),
        description=req.description,
        tags=tags_from_proto(req.tags),
        stage=req.stage,
        status=status,
        status_message=req.status_message,
        created_by=req.created_by,
        registry_held=req.registry_held_artifacts,
        imported_from=req.imported_from,
    )
