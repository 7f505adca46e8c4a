"""Registered models: create, read, rename, describe, tag, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._args import _tag_messages
from registry_client._transport import Transport
from registry_client.types import ModelVersion, RegisteredModel


class ModelsMixin(Transport):
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        request = pb.CreateRegisteredModelRequest(
            name=name, description=description or "", tags=_tag_messages(tags)
        )
        response = self._call("CreateRegisteredModel", request)
        return RegisteredModel._from_proto(response.registered_model)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a model with its tags, aliases and latest version per stage."""
        request = pb.GetRegisteredModelRequest(name=name)
        response = self._call("GetRegisteredModel", request)
        return RegisteredModel._from_proto(response.registered_model)

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        """Replace the description; an empty string clears it."""
        request = pb.UpdateRegisteredModelRequest(name=name, description=description)
        response = self._call("UpdateRegisteredModel", request)
        return RegisteredModel._from_proto(response.registered_model)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        request = pb.RenameRegisteredModelRequest(name=name, new_name=new_name)
        response = self._call("RenameRegisteredModel", request)
        return RegisteredModel._from_proto(response.registered_model)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model and all its versions; its history stays readable."""
        request = pb.DeleteRegisteredModelRequest(name=name)
        self._call("DeleteRegisteredModel", request)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        request = pb.SetRegisteredModelTagRequest(name=name, key=key, value=value)
        self._call("SetRegisteredModelTag", request)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        request = pb.DeleteRegisteredModelTagRequest(name=name, key=key)
        self._call("DeleteRegisteredModelTag", request)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """Highest version in each requested stage (all four when None)."""
        if isinstance(stages, str):
            # A bare string would be split into letters by the repeated field.
            stages = [stages]
        request = pb.GetLatestVersionsRequest(name=name, stages=list(stages or ()))
        response = self._call("GetLatestVersions", request)
        return [ModelVersion._from_proto(v) for v in response.model_versions]
