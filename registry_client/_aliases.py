"""Aliases: movable names for versions, moved atomically, optionally as a
compare-and-swap."""

from __future__ import annotations

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._args import _version_number
from registry_client._transport import Transport
from registry_client.types import AliasMove, ModelVersion

__all__ = ["ALIAS_MUST_NOT_EXIST", "AliasesMixin"]

#: Pass as ``expected_version`` to ``set_registered_model_alias`` to create an
#: alias only if it does not exist yet (the wire encoding of "no alias" is 0).
ALIAS_MUST_NOT_EXIST = 0


class AliasesMixin(Transport):
    def set_registered_model_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        *,
        expected_version: int | None = None,
    ) -> ModelVersion:
        """Point ``alias`` at ``version``, creating or moving it atomically.

        ``expected_version`` makes this a compare-and-swap: the call fails
        with ``FailedPrecondition`` unless the alias currently points at that
        version, or, with ``ALIAS_MUST_NOT_EXIST``, unless it does not exist.
        Use it when two deployers might move the same alias concurrently.
        Returns the version now pointed at; ``move_registered_model_alias``
        also tells where the alias pointed before.
        """
        return self.move_registered_model_alias(
            name, alias, version, expected_version=expected_version
        ).model_version

    def move_registered_model_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        *,
        expected_version: int | None = None,
    ) -> AliasMove:
        """``set_registered_model_alias`` that also returns the version the
        alias pointed at before the move (None if it did not exist), which is
        what a deployment needs to roll back."""
        request = pb.SetRegisteredModelAliasRequest(
            name=name, alias=alias, version=_version_number(version)
        )
        if expected_version is not None:
            # Explicit presence: 0 is a real condition here, not "unset".
            request.expected_version = expected_version
        # A compare-and-swap is never resent: the replay would see the alias
        # already moved and fail with FAILED_PRECONDITION.
        cas = expected_version is not None
        response = self._call("SetRegisteredModelAlias", request, retry_safe=False if cas else None)
        return AliasMove._from_proto(response)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        request = pb.DeleteRegisteredModelAliasRequest(name=name, alias=alias)
        self._call("DeleteRegisteredModelAlias", request)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        request = pb.GetModelVersionByAliasRequest(name=name, alias=alias)
        response = self._call("GetModelVersionByAlias", request)
        return ModelVersion._from_proto(response.model_version)
