"""Immutable Python views of the registry's protobuf entities.

Callers get plain frozen dataclasses instead of generated messages so that
their code does not depend on protobuf quirks (``HasField``, enum integers,
repeated ``Tag`` messages instead of dicts) and so that values are safe to
share, hash and compare. Each object keeps the message it was built from in
``raw`` as an escape hatch for fields added to the API after this client was
written; ``raw`` takes no part in equality or ``repr``.

Timestamps stay integer milliseconds, exactly as the server sends them (and
as MLflow does), so nothing is rounded; ``created_at``-style properties give
timezone-aware datetimes for display and arithmetic.

One module per aggregate; everything is re-exported here and from
``registry_client``.
"""

from registry_client.types.access import AccessToken, ModelGrant, NewAccessToken, WhoAmI
from registry_client.types.aliases import AliasMove, ResolvedModel
from registry_client.types.artifacts import (
    ArtifactDownloadUrls,
    ArtifactFile,
    ArtifactListing,
    ArtifactUrl,
    DownloadedModel,
)
from registry_client.types.history import EventPage, ModelEvent, ModelStateAsOf, VersionState
from registry_client.types.imports import ImportedAlias, ImportedModel, ImportedVersion
from registry_client.types.models import RegisteredModel
from registry_client.types.search import SearchPage, VersionLineage
from registry_client.types.versions import Dataset, Lineage, ModelVersion
from registry_client.types.webhooks import NewWebhook, Webhook, WebhookDelivery

__all__ = [
    "AccessToken",
    "AliasMove",
    "ArtifactDownloadUrls",
    "ArtifactFile",
    "ArtifactListing",
    "ArtifactUrl",
    "Dataset",
    "DownloadedModel",
    "EventPage",
    "ImportedAlias",
    "ImportedModel",
    "ImportedVersion",
    "Lineage",
    "ModelEvent",
    "ModelGrant",
    "ModelStateAsOf",
    "ModelVersion",
    "NewAccessToken",
    "NewWebhook",
    "RegisteredModel",
    "ResolvedModel",
    "SearchPage",
    "VersionLineage",
    "VersionState",
    "Webhook",
    "WebhookDelivery",
    "WhoAmI",
]
