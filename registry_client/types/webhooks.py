"""Webhooks: HTTP endpoints the registry POSTs its events to, and their deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb

__all__ = ["NewWebhook", "Webhook", "WebhookDelivery"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as listed: never its secret. Empty ``events`` or ``models``
    mean every kind or every model."""

    webhook_id: int
    url: str
    events: tuple[str, ...]
    models: tuple[str, ...]
    description: str
    enabled: bool
    creation_timestamp: int
    created_by: str
    last_updated_timestamp: int
    raw: pb.Webhook | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.Webhook) -> Webhook:
        return cls(
            webhook_id=msg.webhook_id,
            url=msg.url,
            events=tuple(msg.events),
            models=tuple(msg.models),
            description=msg.description,
            enabled=msg.enabled,
            creation_timestamp=msg.creation_timestamp,
            created_by=msg.created_by,
            last_updated_timestamp=msg.last_updated_timestamp,
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class NewWebhook:
    """A created webhook and its signing secret, shown only this once."""

    webhook: Webhook
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event (or ping) for one webhook: ``status`` is ``pending``,
    ``delivered`` or ``failed``; ``delivery_id`` is the X-Registry-Delivery
    header, the same on every attempt."""

    delivery_id: int
    webhook_id: int
    event_id: int | None  # None: a ping
    kind: str
    status: str
    attempts: int
    last_response_code: int | None  # None: no answer yet (or none at all)
    last_error: str
    next_attempt_timestamp: int | None  # None: no attempt due
    creation_timestamp: int
    last_attempt_timestamp: int | None
    raw: pb.WebhookDelivery | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.WebhookDelivery) -> WebhookDelivery:
        return cls(
            delivery_id=msg.delivery_id,
            webhook_id=msg.webhook_id,
            event_id=msg.event_id or None,
            kind=msg.kind,
            status=msg.status,
            attempts=msg.attempts,
            last_response_code=msg.last_response_code or None,
            last_error=msg.last_error,
            next_attempt_timestamp=msg.next_attempt_timestamp or None,
            creation_timestamp=msg.creation_timestamp,
            last_attempt_timestamp=msg.last_attempt_timestamp or None,
            raw=msg,
        )
