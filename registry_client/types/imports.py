"""What the admin-only import methods return (``import_registered_model``,
``import_model_version``, ``import_registered_model_alias``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client.types.models import RegisteredModel
from registry_client.types.versions import ModelVersion

__all__ = ["ImportedAlias", "ImportedModel", "ImportedVersion"]


@dataclass(frozen=True, slots=True)
class ImportedModel:
    """The model after an import: ``created`` is False when a model of that
    name existed (it was left unchanged)."""

    registered_model: RegisteredModel
    created: bool
    raw: pb.ImportRegisteredModelResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.ImportRegisteredModelResponse) -> ImportedModel:
        return cls(RegisteredModel._from_proto(msg.registered_model), msg.created, msg)


@dataclass(frozen=True, slots=True)
class ImportedVersion:
    """The version after an import: ``already_imported`` is True when the
    same version existed and nothing changed."""

    model_version: ModelVersion
    already_imported: bool
    raw: pb.ImportModelVersionResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.ImportModelVersionResponse) -> ImportedVersion:
        return cls(ModelVersion._from_proto(msg.model_version), msg.already_imported, msg)


@dataclass(frozen=True, slots=True)
class ImportedAlias:
    """The version an imported alias points at: ``already_imported`` is True
    when the alias already pointed there and nothing changed."""

    model_version: ModelVersion
    already_imported: bool
    raw: pb.ImportRegisteredModelAliasResponse | None = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def _from_proto(cls, msg: pb.ImportRegisteredModelAliasResponse) -> ImportedAlias:
        return cls(ModelVersion._from_proto(msg.model_version), msg.already_imported, msg)
