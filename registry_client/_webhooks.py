"""Webhooks (global admins): register HTTP endpoints that receive the
registry's events, signed, at least once; follow their deliveries."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._transport import Transport
from registry_client.types.webhooks import NewWebhook, Webhook, WebhookDelivery

_STATUSES = ("pending", "delivered", "failed")


def _sequence(value: Sequence[str], name: str) -> list[str]:
    # A lone string is a sequence of characters: almost surely a mistake.
    if isinstance(value, str):
        raise TypeError(f"{name} must be a sequence of strings, not a string")
    return list(value)


class WebhooksMixin(Transport):
    def create_webhook(
        self,
        url: str,
        *,
        events: Sequence[str] = (),
        models: Sequence[str] = (),
        secret: str | None = None,
        description: str = "",
    ) -> NewWebhook:
        """Register ``url`` to receive a signed POST for every event of the
        given kinds (empty: all) on the given models (empty: all). Without
        ``secret`` the server generates one; either way the result's
        ``secret`` is the only time it is shown."""
        request = pb.CreateWebhookRequest(
            url=url,
            events=_sequence(events, "events"),
            models=_sequence(models, "models"),
            secret=secret or "",
            description=description,
        )
        # Not resent: a replay would register a second webhook.
        response = self._call("CreateWebhook", request)
        return NewWebhook(Webhook._from_proto(response.webhook), response.secret)

    def list_webhooks(self) -> list[Webhook]:
        """Every webhook, oldest first (never their secrets)."""
        pages = self._pages("ListWebhooks", lambda token: pb.ListWebhooksRequest(page_token=token))
        return [Webhook._from_proto(w) for page in pages for w in page.webhooks]

    def update_webhook(
        self,
        webhook_id: int,
        *,
        url: str | None = None,
        enabled: bool | None = None,
        description: str | None = None,
        events: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
    ) -> Webhook:
        """Change what is given; ``events``/``models`` replace that filter (an
        empty sequence: every kind / every model). ``enabled=False`` pauses
        the webhook: no new deliveries are queued for it."""
        request = pb.UpdateWebhookRequest(webhook_id=webhook_id)
        if url is not None:
            request.url = url
        if enabled is not None:
            request.enabled = enabled
        if description is not None:
            request.description = description
        if events is not None:
            request.replace_events = True
            request.events.extend(_sequence(events, "events"))
        if models is not None:
            request.replace_models = True
            request.models.extend(_sequence(models, "models"))
        response = self._call("UpdateWebhook", request)
        return Webhook._from_proto(response.webhook)

    def delete_webhook(self, webhook_id: int) -> None:
        """Delete a webhook and its deliveries, sent or not."""
        self._call("DeleteWebhook", pb.DeleteWebhookRequest(webhook_id=webhook_id))

    def list_webhook_deliveries(
        self, webhook_id: int, *, status: str | None = None, limit: int | None = None
    ) -> list[WebhookDelivery]:
        """A webhook's deliveries, newest first; only those in ``status``
        ("pending", "delivered", "failed") if given; at most ``limit``."""
        if status is not None and status not in _STATUSES:
            raise ValueError(f"status must be one of {', '.join(_STATUSES)}, got {status!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        size = min(limit, 1000) if limit is not None else 0
        pages = self._pages(
            "ListWebhookDeliveries",
            lambda token: pb.ListWebhookDeliveriesRequest(
                webhook_id=webhook_id, status=status or "", page_size=size, page_token=token
            ),
        )
        found = (WebhookDelivery._from_proto(d) for page in pages for d in page.deliveries)
        return list(itertools.islice(found, limit))

    def test_webhook(self, webhook_id: int) -> WebhookDelivery:
        """Queue a signed ``ping`` to the webhook; follow it with
        ``list_webhook_deliveries``."""
        response = self._call("TestWebhook", pb.TestWebhookRequest(webhook_id=webhook_id))
        return WebhookDelivery._from_proto(response.delivery)
