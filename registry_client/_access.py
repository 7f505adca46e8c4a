"""Access control: who the server sees, protected aliases and stages,
per-model grants, access tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.rpcs import ROLES
from registry_client._transport import Transport
from registry_client.types import AccessToken, ModelGrant, NewAccessToken, RegisteredModel, WhoAmI
from registry_client.types.access import _role_name


def _role_value(role: str) -> str:
    """The wire enum's name (``ROLE_WRITER``), which the message accepts as is."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return f"ROLE_{role.upper()}"


class AccessMixin(Transport):
    def whoami(self) -> WhoAmI:
        """Who the server takes this client to be, and its global role."""
        response = self._call("WhoAmI", pb.WhoAmIRequest())
        return WhoAmI(
            response.principal,
            _role_name(response.role),
            response.authentication_required,
        )

    def set_model_protection(
        self,
        name: str,
        *,
        protected_aliases: Sequence[str] = (),
        protected_stages: Sequence[str] = (),
    ) -> RegisteredModel:
        """Replace the model's protected aliases and stages: moving those then
        needs the admin role on the model. Pass empty lists to unprotect."""
        request = pb.SetModelProtectionRequest(
            name=name,
            protected_aliases=list(protected_aliases),
            protected_stages=list(protected_stages),
        )
        response = self._call("SetModelProtection", request)
        return RegisteredModel._from_proto(response.registered_model)

    def set_model_grant(self, name: str, principal: str, role: str) -> None:
        """Give ``principal`` at least ``role`` ("reader", "writer", "admin")
        on one model, e.g. a team's CI writer on its own models only."""
        request = pb.SetModelGrantRequest(name=name, principal=principal, role=_role_value(role))
        self._call("SetModelGrant", request)

    def delete_model_grant(self, name: str, principal: str) -> None:
        request = pb.DeleteModelGrantRequest(name=name, principal=principal)
        self._call("DeleteModelGrant", request)

    def list_model_grants(self, name: str) -> list[ModelGrant]:
        pages = self._pages(
            "ListModelGrants", lambda token: pb.ListModelGrantsRequest(name=name, page_token=token)
        )
        return [ModelGrant(g.principal, _role_name(g.role)) for page in pages for g in page.grants]

    def create_access_token(
        self,
        principal: str,
        role: str,
        *,
        description: str = "",
        expires_in: float | None = None,
    ) -> NewAccessToken:
        """Create a token for ``principal`` with a global ``role`` ("none" for
        tokens that only act through per-model grants). ``expires_in`` is in
        seconds (None: never). The secret is in the result only: keep it."""
        if expires_in is not None and expires_in < 0:
            raise ValueError(f"expires_in must not be negative, got {expires_in!r}")
        request = pb.CreateAccessTokenRequest(
            principal=principal,
            role=_role_value(role),
            description=description,
            # Rounded up: a short lifetime must not become 0, which means "never".
            expires_in_seconds=math.ceil(expires_in or 0),
        )
        # Not resent: a replay would mint a second token.
        response = self._call("CreateAccessToken", request)
        return NewAccessToken(AccessToken._from_proto(response.token), response.secret)

    def list_access_tokens(self, *, include_inactive: bool = False) -> list[AccessToken]:
        pages = self._pages(
            "ListAccessTokens",
            lambda token: pb.ListAccessTokensRequest(
                include_inactive=include_inactive, page_token=token
            ),
        )
        return [AccessToken._from_proto(t) for page in pages for t in page.tokens]

    def revoke_access_token(self, token_id: int) -> AccessToken:
        """Revoke a token; calls carrying it fail within seconds on every replica."""
        request = pb.RevokeAccessTokenRequest(token_id=token_id)
        response = self._call("RevokeAccessToken", request)
        return AccessToken._from_proto(response.token)
