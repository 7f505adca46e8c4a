"""Typed Python client for the modelregistry gRPC API.

Method names follow ``mlflow.MlflowClient``; results are frozen dataclasses
and failures are typed exceptions carrying the gRPC status code::

    from registry_client import ALIAS_MUST_NOT_EXIST, FailedPrecondition, RegistryClient

    with RegistryClient("registry.internal:50051") as client:
        client.create_registered_model("fraud-detector", tags={"team": "risk"})
        mv = client.create_model_version(
            "fraud-detector", source="s3://models/fraud/42", run_id="run-42"
        )
        client.transition_model_version_stage(mv.name, mv.version, "Staging")
        try:
            client.set_registered_model_alias(
                mv.name, "champion", mv.version, expected_version=ALIAS_MUST_NOT_EXIST
            )
        except FailedPrecondition:
            ...  # someone else already set it
        print(client.resolve("models:/fraud-detector@champion").resolved_uri)

Registry-held files: ``log_model_version(name, local_dir)`` uploads a folder
as a new READY version, ``download_artifacts(uri, dst_dir)`` fetches it back,
checked against the manifest's sha256.

The target defaults to ``$REGISTRY_TARGET`` and the recorded actor to
``$REGISTRY_ACTOR`` (else the OS user). The ``registry`` command line tool
(``registry_client.cli``) is built on this client only.
"""

from registry_client._client import ALIAS_MUST_NOT_EXIST, RPC_METHODS, RegistryClient
from registry_client._errors import (
    AlreadyExists,
    ChecksumMismatch,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    RegistryError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    error_from_rpc,
)
from registry_client._watch import EventWatch
from registry_client.artifacts.manifest import compute_manifest
from registry_client.types import (
    AccessToken,
    AliasMove,
    ArtifactDownloadUrls,
    ArtifactFile,
    ArtifactListing,
    ArtifactUrl,
    Dataset,
    DownloadedModel,
    EventPage,
    ImportedAlias,
    ImportedModel,
    ImportedVersion,
    Lineage,
    ModelEvent,
    ModelGrant,
    ModelStateAsOf,
    ModelVersion,
    NewAccessToken,
    NewWebhook,
    RegisteredModel,
    ResolvedModel,
    SearchPage,
    VersionLineage,
    VersionState,
    Webhook,
    WebhookDelivery,
    WhoAmI,
)

__all__ = [
    "ALIAS_MUST_NOT_EXIST",
    "RPC_METHODS",
    "AccessToken",
    "AliasMove",
    "AlreadyExists",
    "ArtifactDownloadUrls",
    "ArtifactFile",
    "ArtifactListing",
    "ArtifactUrl",
    "ChecksumMismatch",
    "Dataset",
    "DeadlineExceeded",
    "DownloadedModel",
    "EventPage",
    "EventWatch",
    "FailedPrecondition",
    "ImportedAlias",
    "ImportedModel",
    "ImportedVersion",
    "Internal",
    "InvalidArgument",
    "Lineage",
    "ModelEvent",
    "ModelGrant",
    "ModelStateAsOf",
    "ModelVersion",
    "NewAccessToken",
    "NewWebhook",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "RegisteredModel",
    "RegistryClient",
    "RegistryError",
    "ResolvedModel",
    "ResourceExhausted",
    "SearchPage",
    "Unauthenticated",
    "Unavailable",
    "VersionLineage",
    "VersionState",
    "Webhook",
    "WebhookDelivery",
    "WhoAmI",
    "compute_manifest",
    "error_from_rpc",
]
