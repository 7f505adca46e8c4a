"""The webhook admin RPCs, as a mixin of the servicer: shape, one domain call,
conversion (the rules are in domain/webhooks.py, the sending in
events/webhook_sender.py)."""

from __future__ import annotations

import grpc

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_server.api import paging
from registry_server.api.auth import current_caller
from registry_server.domain import validation
from registry_server.domain.errors import InvalidArgument
from registry_server.domain.webhooks import Webhook, WebhookDelivery, WebhookService

#: ListWebhookDeliveries: page_size 0 means this many.
DELIVERIES_PAGE = 100


def webhook_to_proto(webhook: Webhook) -> pb.Webhook:
    return pb.Webhook(
        webhook_id=webhook.webhook_id,
        url=webhook.url,
        events=list(webhook.events),
        models=list(webhook.models),
        description=webhook.description,
        enabled=webhook.enabled,
        creation_timestamp=webhook.creation_ms,
        created_by=webhook.created_by,
        last_updated_timestamp=webhook.last_updated_ms,
    )


def delivery_to_proto(delivery: WebhookDelivery) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(
        delivery_id=delivery.delivery_id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        kind=delivery.kind,
        status=delivery.status,
        attempts=delivery.attempts,
        last_response_code=delivery.last_response_code,
        last_error=delivery.last_error,
        next_attempt_timestamp=delivery.next_attempt_ms,
        creation_timestamp=delivery.creation_ms,
        last_attempt_timestamp=delivery.last_attempt_ms,
    )


class WebhookRpcs:
    """CreateWebhook ... TestWebhook; the servicer sets `webhooks`."""

    webhooks: WebhookService

    def CreateWebhook(
        self, request: pb.CreateWebhookRequest, context: grpc.ServicerContext
    ) -> pb.CreateWebhookResponse:
        webhook, secret = self.webhooks.create(
            request.url,
            list(request.events),
            list(request.models),
            request.secret,
            request.description,
            current_caller(),
        )
        return pb.CreateWebhookResponse(webhook=webhook_to_proto(webhook), secret=secret)

    def ListWebhooks(
        self, request: pb.ListWebhooksRequest, context: grpc.ServicerContext
    ) -> pb.ListWebhooksResponse:
        found, next_token = paging.page(
            self.webhooks.list(current_caller()),
            lambda webhook: (webhook.webhook_id,),  # oldest first
            listing="ListWebhooks",
            request=(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListWebhooksResponse(
            webhooks=[webhook_to_proto(w) for w in found], next_page_token=next_token
        )

    def UpdateWebhook(
        self, request: pb.UpdateWebhookRequest, context: grpc.ServicerContext
    ) -> pb.UpdateWebhookResponse:
        webhook = self.webhooks.update(
            request.webhook_id,
            current_caller(),
            url=request.url if request.HasField("url") else None,
            enabled=request.enabled if request.HasField("enabled") else None,
            description=request.description if request.HasField("description") else None,
            events=list(request.events) if request.replace_events else None,
            models=list(request.models) if request.replace_models else None,
        )
        return pb.UpdateWebhookResponse(webhook=webhook_to_proto(webhook))

    def DeleteWebhook(
        self, request: pb.DeleteWebhookRequest, context: grpc.ServicerContext
    ) -> pb.DeleteWebhookResponse:
        self.webhooks.delete(request.webhook_id, current_caller())
        return pb.DeleteWebhookResponse()

    def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: grpc.ServicerContext
    ) -> pb.ListWebhookDeliveriesResponse:
        size = validation.page_size(request.page_size, DELIVERIES_PAGE, paging.MAX_PAGE_SIZE)
        listing, asked = "ListWebhookDeliveries", (request.webhook_id, request.status)
        before_id = None
        if request.page_token:
            key = paging.token_key(request.page_token, listing=listing, request=asked)
            if len(key) != 1 or type(key[0]) is not int:
                raise InvalidArgument("page_token: malformed; pass the next_page_token unchanged")
            before_id = key[0]
        found = self.webhooks.deliveries(
            request.webhook_id, request.status, before_id, size + 1, current_caller()
        )
        next_token = ""
        if len(found) > size:
            found = found[:size]
            next_token = paging.key_token((found[-1].delivery_id,), listing=listing, request=asked)
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[delivery_to_proto(d) for d in found], next_page_token=next_token
        )

    def TestWebhook(
        self, request: pb.TestWebhookRequest, context: grpc.ServicerContext
    ) -> pb.TestWebhookResponse:
        delivery = self.webhooks.test(request.webhook_id, current_caller())
        return pb.TestWebhookResponse(delivery=delivery_to_proto(delivery))
