"""``registry webhooks``: HTTP endpoints that receive the registry's events
(global admins)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._format import fmt_time, key_values, rows, to_jsonable
from registry_client.cli._parsing import Result, command, done, group, positive_int
from registry_client.types import Webhook, WebhookDelivery


def add(sub: Any) -> None:
    g = group(
        sub,
        "webhooks",
        "HTTP endpoints that receive events: create, list, update, delete, deliveries, test",
        "Register URLs that receive a signed POST for every event matching their\n"
        "filters (at least once, retried for about a day). The signing secret is\n"
        "printed once, at creation. All commands need the global admin role.",
        [
            "registry webhooks create https://ci.example.com/hooks/registry "
            "--event alias_set --model fraud-detector",
            "registry webhooks deliveries 1 --status failed",
        ],
    )
    p = command(
        g,
        "create",
        webhooks_create,
        "register a URL and print its signing secret once",
        "Register URL (https; http only if the server allows insecure webhooks) to\n"
        "receive events of the given kinds (default: all) on the given models\n"
        "(default: all). Without --secret the server generates one; it is shown once.",
        [
            "registry webhooks create https://ci.example.com/hooks/registry "
            "--event alias_set --event version_stage_changed --model fraud-detector",
            "registry --output json webhooks create https://chat.example.com/in "
            "--description 'release channel'",
        ],
    )
    p.add_argument("url", metavar="URL", help="where deliveries are POSTed")
    _add_filters(p)
    p.add_argument("--secret", help="signing secret of 16 to 256 characters (default: generated)")
    p.add_argument("--description", default="", help="what the webhook is for")
    p = command(
        g,
        "list",
        webhooks_list,
        "list webhooks (never their secrets)",
        "List every webhook, oldest first, with its filters and whether it is enabled.",
        ["registry webhooks list"],
    )
    p = command(
        g,
        "update",
        webhooks_update,
        "change a webhook's URL, filters or description; pause or resume it",
        "Change what is given. --event/--model replace that filter; --all-events and\n"
        "--all-models clear it. A disabled webhook gets no new deliveries.",
        [
            "registry webhooks update 1 --disable",
            "registry webhooks update 1 --enable --event alias_set --all-models",
        ],
    )
    p.add_argument("webhook_id", metavar="ID", type=positive_int, help="webhook ID")
    p.add_argument("--url", help="new URL")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_true", default=None)
    state.add_argument("--disable", dest="enabled", action="store_false")
    p.add_argument("--description", help="new description")
    _add_filters(p)
    p.add_argument("--all-events", action="store_true", help="deliver every kind")
    p.add_argument("--all-models", action="store_true", help="deliver events of every model")
    p = command(
        g,
        "delete",
        webhooks_delete,
        "delete a webhook and its deliveries",
        "Delete the webhook; deliveries not yet sent are dropped.",
        ["registry webhooks delete 1"],
    )
    p.add_argument("webhook_id", metavar="ID", type=positive_int, help="webhook ID")
    p = command(
        g,
        "deliveries",
        webhooks_deliveries,
        "list a webhook's deliveries, newest first",
        "Show each delivery's status (pending, delivered, failed), attempts, last\n"
        "response code or error, and when the next attempt is due.",
        ["registry webhooks deliveries 1 --status pending --limit 20"],
    )
    p.add_argument("webhook_id", metavar="ID", type=positive_int, help="webhook ID")
    p.add_argument("--status", choices=("pending", "delivered", "failed"), help="only these")
    p.add_argument(
        "--limit", type=positive_int, default=100, help="most deliveries to show (default 100)"
    )
    p = command(
        g,
        "test",
        webhooks_test,
        "send a ping to a webhook",
        "Queue a signed `ping` delivery; follow it with `registry webhooks deliveries`.",
        ["registry webhooks test 1"],
    )
    p.add_argument("webhook_id", metavar="ID", type=positive_int, help="webhook ID")


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--event",
        dest="events",
        action="append",
        metavar="KIND",
        help="deliver events of this kind (repeatable), e.g. alias_set",
    )
    p.add_argument(
        "--model",
        dest="models",
        action="append",
        metavar="NAME",
        help="deliver events of this model (repeatable)",
    )


def _webhooks_table(webhooks: Sequence[Webhook]) -> str:
    body = [
        [
            w.webhook_id,
            "enabled" if w.enabled else "disabled",
            ", ".join(w.events) or "(all)",
            ", ".join(w.models) or "(all)",
            w.description,
            w.url,
        ]
        for w in webhooks
    ]
    headers = ["ID", "STATE", "EVENTS", "MODELS", "DESCRIPTION", "URL"]
    return rows(headers, body, "(no webhooks)", full_last=True)


def _deliveries_table(deliveries: Sequence[WebhookDelivery]) -> str:
    body = [
        [
            d.delivery_id,
            d.kind,
            d.event_id or "",
            d.status,
            d.attempts,
            d.last_response_code or "",
            fmt_time(d.next_attempt_timestamp or 0),
            d.last_error,
        ]
        for d in deliveries
    ]
    headers = ["ID", "KIND", "EVENT", "STATUS", "ATTEMPTS", "CODE", "NEXT ATTEMPT", "ERROR"]
    return rows(headers, body, "(no deliveries)", full_last=True)


def webhooks_create(c: RegistryClient, a: argparse.Namespace) -> Result:
    created = c.create_webhook(
        a.url,
        events=a.events or (),
        models=a.models or (),
        secret=a.secret,
        description=a.description,
    )
    text = (
        _webhooks_table([created.webhook])
        + f"\n\nsigning secret (shown once, store it now):\n{created.secret}"
    )
    return Result({**to_jsonable(created.webhook), "secret": created.secret}, text)


def webhooks_list(c: RegistryClient, a: argparse.Namespace) -> Result:
    found = c.list_webhooks()
    return Result({"webhooks": found}, _webhooks_table(found))


def webhooks_update(c: RegistryClient, a: argparse.Namespace) -> Result:
    events = () if a.all_events else a.events
    models = () if a.all_models else a.models
    webhook = c.update_webhook(
        a.webhook_id,
        url=a.url,
        enabled=a.enabled,
        description=a.description,
        events=events,
        models=models,
    )
    return Result(webhook, _webhooks_table([webhook]))


def webhooks_delete(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_webhook(a.webhook_id)
    return done(f"Deleted webhook {a.webhook_id}.", webhook_id=a.webhook_id, deleted=True)


def webhooks_deliveries(c: RegistryClient, a: argparse.Namespace) -> Result:
    found = c.list_webhook_deliveries(a.webhook_id, status=a.status, limit=a.limit)
    return Result({"webhook_id": a.webhook_id, "deliveries": found}, _deliveries_table(found))


def webhooks_test(c: RegistryClient, a: argparse.Namespace) -> Result:
    delivery = c.test_webhook(a.webhook_id)
    text = key_values(
        [
            ("delivery", delivery.delivery_id),
            ("status", delivery.status),
            ("next", f"registry webhooks deliveries {a.webhook_id}"),
        ]
    )
    return Result(delivery, text)
