"""Access control: tokens, per-model grants and who the server sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb

__all__ = ["AccessToken", "ModelGrant", "NewAccessToken", "WhoAmI"]


def _role_name(value: int) -> str:
    """ "none", "reader", "writer" or "admin" (the wire enum without prefix)."""
    try:
        return pb.Role.Name(value).removeprefix("ROLE_").lower()
    except ValueError:
        return f"unknown({value})"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An access token as listed: never its secret."""

    token_id: int
    principal: str
    role: str
    description: str
    prefix: str
    creation_timestamp: int
    expiration_timestamp: int | None
    revocation_timestamp: int | None
    created_by: str
    raw: pb.AccessToken | None = field(default=None, repr=False, compare=False)

    @property
    def active(self) -> bool:
        now = datetime.now(tz=UTC).timestamp() * 1000
        expired = self.expiration_timestamp is not None and self.expiration_timestamp <= now
        return self.revocation_timestamp is None and not expired

    @classmethod
    def _from_proto(cls, msg: pb.AccessToken) -> AccessToken:
        return cls(
            token_id=msg.token_id,
            principal=msg.principal,
            role=_role_name(msg.role),
            description=msg.description,
            prefix=msg.prefix,
            creation_timestamp=msg.creation_timestamp,
            expiration_timestamp=msg.expiration_timestamp or None,
            revocation_timestamp=msg.revocation_timestamp or None,
            created_by=msg.created_by,
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class NewAccessToken:
    """A created token and its secret, which the server does not keep."""

    token: AccessToken
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ModelGrant:
    principal: str
    role: str


@dataclass(frozen=True, slots=True)
class WhoAmI:
    principal: str
    role: str
    authentication_required: bool
