"""The typed registry client.

Method names and argument order follow ``mlflow.MlflowClient`` so that code
and habits carry over; results are the frozen dataclasses of ``_types`` and
failures the typed errors of ``_errors``.

Every RPC goes through ``RegistryClient._call``, the single place that sets
deadlines, sends the caller's identity, retries and translates errors, so
those policies cannot drift apart between methods.
"""

from __future__ import annotations

import getpass
import math
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, BinaryIO, Self

import grpc
from google.protobuf.message import Message

from registry_api import metadata as metadata_keys
from registry_api import wire
from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import _artifacts
from registry_client._errors import Internal, RegistryError, error_from_rpc
from registry_client._types import (
    AccessToken,
    AliasMove,
    ArtifactDownloadUrls,
    ArtifactFile,
    ArtifactListing,
    DownloadedModel,
    EventPage,
    Lineage,
    ModelEvent,
    ModelGrant,
    ModelStateAsOf,
    ModelVersion,
    NewAccessToken,
    RegisteredModel,
    ResolvedModel,
    SearchPage,
    VersionLineage,
    WhoAmI,
    _role_name,
)
from registry_client.tls import open_channel, tls_settings

__all__ = ["ALIAS_MUST_NOT_EXIST", "DEFAULT_TARGET", "RPC_METHODS", "RegistryClient"]

DEFAULT_TARGET = "127.0.0.1:50051"

#: Pass as ``expected_version`` to ``set_registered_model_alias`` to create an
#: alias only if it does not exist yet (the wire encoding of "no alias" is 0).
ALIAS_MUST_NOT_EXIST = 0

#: RPC name -> client method name. Lets a test check that every RPC of the
#: service has a client method, so a new RPC cannot ship unreachable.
RPC_METHODS: dict[str, str] = {
    "CreateRegisteredModel": "create_registered_model",
    "GetRegisteredModel": "get_registered_model",
    "UpdateRegisteredModel": "update_registered_model",
    "RenameRegisteredModel": "rename_registered_model",
    "DeleteRegisteredModel": "delete_registered_model",
    "SetRegisteredModelTag": "set_registered_model_tag",
    "DeleteRegisteredModelTag": "delete_registered_model_tag",
    "GetLatestVersions": "get_latest_versions",
    "CreateModelVersion": "create_model_version",
    "GetModelVersion": "get_model_version",
    "UpdateModelVersion": "update_model_version",
    "DeleteModelVersion": "delete_model_version",
    "TransitionModelVersionStage": "transition_model_version_stage",
    "SetModelVersionTag": "set_model_version_tag",
    "DeleteModelVersionTag": "delete_model_version_tag",
    "SetRegisteredModelAlias": "set_registered_model_alias",
    "DeleteRegisteredModelAlias": "delete_registered_model_alias",
    "GetModelVersionByAlias": "get_model_version_by_alias",
    "ResolveModelUri": "resolve",
    "SearchRegisteredModels": "search_registered_models",
    "SearchModelVersions": "search_model_versions",
    "FindModelVersionsByRun": "find_model_versions_by_run",
    "FindModelVersionsByDataset": "find_model_versions_by_dataset",
    "GetModelVersionLineage": "get_model_version_lineage",
    "ListModelEvents": "list_model_events",
    "GetModelStateAsOf": "get_model_state_as_of",
    "UploadArtifact": "upload_artifact",
    "FinalizeModelVersion": "finalize_model_version",
    "AbortModelVersion": "abort_model_version",
    "ListArtifacts": "list_artifacts",
    "DownloadArtifact": "download_artifact",
    "GetArtifactDownloadUrls": "get_artifact_download_urls",
    "SetModelProtection": "set_model_protection",
    "SetModelGrant": "set_model_grant",
    "DeleteModelGrant": "delete_model_grant",
    "ListModelGrants": "list_model_grants",
    "CreateAccessToken": "create_access_token",
    "ListAccessTokens": "list_access_tokens",
    "RevokeAccessToken": "revoke_access_token",
    "WhoAmI": "whoami",
}

#: Role names accepted by the access-control methods.
ROLES = ("none", "reader", "writer", "admin")


# Backoff between attempts on UNAVAILABLE: 50 ms doubling up to 2 s, with
# jitter so that many clients cut off by the same outage do not come back in
# lock-step.
_BACKOFF_INITIAL = 0.05
_BACKOFF_MAX = 2.0

# Conservative keep-alive: one ping per 5 minutes is the most a gRPC server
# accepts by default without answering GOAWAY "too_many_pings", and pinging
# only during calls avoids the same penalty on idle channels.

_DEFAULT_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.keepalive_time_ms": 300_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.primary_user_agent": "modelregistry-python",
}


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (e.g. bare containers)
        return "unknown"


def _version_number(version: int | str) -> int:
    """Accept MLflow-style string versions ("3") as well as ints."""
    if isinstance(version, bool):
        raise TypeError("version must be an int or a numeric string, not bool")
    if isinstance(version, int):
        return version
    if isinstance(version, str) and version.strip().isdigit():
        return int(version)
    raise ValueError(f"version must be a positive integer, got {version!r}")


def _tag_messages(tags: Mapping[str, str] | None) -> list[pb.Tag]:
    return [pb.Tag(key=k, value=v) for k, v in (tags or {}).items()]


def _epoch_ms(value: datetime | int | None, name: str) -> int:
    """Timestamps go over the wire as epoch ms; accept aware datetimes too.

    A naive datetime is refused: guessing its zone would silently shift a
    point-in-time question ("what was Production at 10:00?") by hours.
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a datetime or epoch milliseconds, not bool")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (e.g. tzinfo=datetime.UTC)")
        return int(value.timestamp() * 1000)
    raise TypeError(f"{name} must be a datetime or epoch milliseconds, got {value!r}")


def _role_value(role: str) -> int:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return pb.Role.Value(f"ROLE_{role.upper()}")


def _order_by(order_by: Sequence[str] | str | None) -> list[str]:
    if order_by is None:
        return []
    return [order_by] if isinstance(order_by, str) else list(order_by)


class RegistryClient:
    """A connection to the model registry.

    Args:
        target: ``host:port`` of the server; defaults to ``$REGISTRY_TARGET``,
            then ``127.0.0.1:50051``.
        timeout: Seconds a method may take in total, retries included.
        transfer_timeout: Seconds one file upload or download may take,
            retries included; None (the default) sets no limit, since large
            files take long (keep-alive pings still detect a dead server).
        max_attempts: Attempts per call (>= 1) when a retry-safe call meets
            UNAVAILABLE.
        actor: Identity recorded in the model's history; defaults to
            ``$REGISTRY_ACTOR``, then the OS user name.
        token: Bearer token sent as ``authorization`` metadata on every call;
            defaults to ``$REGISTRY_TOKEN``; none is sent when unset.
        channel: An existing channel to use instead of opening one (tests,
            custom credentials). The client does not close a channel it was
            given.
        options: Extra gRPC channel options; they override the defaults.
        tls: Connect with TLS (True) or plaintext (False). None (the
            default): TLS when any ``tls_*`` argument is given, else
            ``$REGISTRY_TLS``, else TLS when a ``$REGISTRY_TLS_*`` file or name
            is set, else plaintext (the embedded server's default).
        tls_ca: PEM file of the CA(s) to verify the server's certificate
            with; implies TLS. Default ``$REGISTRY_TLS_CA``, else the system's
            trusted roots.
        tls_cert, tls_key: PEM client certificate chain and its unencrypted
            key, for servers that require client certificates (mutual TLS);
            given together. Defaults ``$REGISTRY_TLS_CLIENT_CERT`` and
            ``$REGISTRY_TLS_CLIENT_KEY``.
        tls_server_name: The name the server's certificate must carry, when
            it is not the host in ``target`` (an IP address, a tunnel).
            Default ``$REGISTRY_TLS_SERVER_NAME``.

    TLS files are read when the client is built: a missing or malformed file,
    or a key that does not match its certificate, raises ValueError naming the
    argument.

    Use it as a context manager, or call ``close()``, to release the channel.

    Retry policy: only UNAVAILABLE is retried, because it is the one status
    meaning "try again later" that the server documents for every RPC. Even
    so, UNAVAILABLE can arrive after the server committed (the response was
    lost on the way back), so a call is only resent when doing it twice leaves
    the registry as doing it once would, and reports the same result:

    * reads; set-tag, update and stage transitions (same final state);
    * ``create_model_version``, which always carries an idempotency key so
      the server returns the first attempt's version instead of a new one;
    * ``set_registered_model_alias`` without ``expected_version``.

    Never resent: ``create_registered_model`` and ``rename_registered_model``
    (a replay would fail with ALREADY_EXISTS / NOT_FOUND although the first
    attempt worked), the deletes (NOT_FOUND on replay), and an alias
    compare-and-swap (the replay would see the alias already moved and fail
    with FAILED_PRECONDITION). Those surface ``Unavailable`` to the caller,
    who knows whether re-checking state is worthwhile.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float = 10.0,
        transfer_timeout: float | None = None,
        max_attempts: int = 5,
        actor: str | None = None,
        token: str | None = None,
        channel: grpc.Channel | None = None,
        options: Sequence[tuple[str, Any]] = (),
        tls: bool | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if transfer_timeout is not None and transfer_timeout <= 0:
            raise ValueError(f"transfer_timeout must be positive, got {transfer_timeout!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        self.target = target or os.environ.get("REGISTRY_TARGET") or DEFAULT_TARGET
        self.timeout = timeout
        self.transfer_timeout = transfer_timeout
        self.max_attempts = max_attempts
        self.actor = actor or os.environ.get("REGISTRY_ACTOR") or _default_actor()
        # gRPC rejects non-ASCII text metadata only when a call is made; fail
        # here instead, where the cause is obvious.
        if not self.actor.isascii() or not self.actor.isprintable():
            raise ValueError(f"actor must be printable ASCII, got {self.actor!r}")
        metadata = [(metadata_keys.ACTOR, self.actor)]
        token = token or os.environ.get("REGISTRY_TOKEN") or None
        if token is not None:
            if not token.isascii() or not token.isprintable() or " " in token:
                raise ValueError("token must be printable ASCII without spaces")
            metadata.append((metadata_keys.AUTHORIZATION, f"Bearer {token}"))
        self._metadata = tuple(metadata)
        if channel is None:
            security = tls_settings(tls, tls_ca, tls_cert, tls_key, tls_server_name, os.environ)
            #: Whether the channel this client opened uses TLS (None: channel given).
            self.tls: bool | None = security is not None
            merged = {**_DEFAULT_CHANNEL_OPTIONS, **dict(options)}
            channel = open_channel(self.target, list(merged.items()), security)
            self._owns_channel = True
        else:
            if tls is not None or tls_ca or tls_cert or tls_key or tls_server_name:
                raise ValueError("channel and tls arguments exclude each other")
            self.tls = None  # unknown: a given channel carries its own credentials
            self._owns_channel = False
        self._channel = channel
        self._stub = registry_pb2_grpc.ModelRegistryStub(channel)
        # Downloads read each chunk in place in the received bytes (wire.py).
        self._stub.DownloadArtifact = channel.unary_stream(
            f"/{metadata_keys.SERVICE_NAME}/DownloadArtifact",
            request_serializer=pb.DownloadArtifactRequest.SerializeToString,
            response_deserializer=wire.decode_download,
            _registered_method=True,
        )
        # Indirections so tests can make retries instant and deterministic.
        self._sleep = time.sleep
        self._random = random.random

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Close the channel if this client opened it."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryClient(target={self.target!r}, actor={self.actor!r})"

    @property
    def channel(self) -> grpc.Channel:
        """The gRPC channel, for calling the generated stub
        (``registry_pb2_grpc.ModelRegistryStub``) directly: the raw messages,
        without this client's retries and types. Calls made that way must
        send ``metadata`` themselves (the actor, a token)."""
        return self._channel

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The call metadata this client sends: the actor and, if given, the token."""
        return self._metadata

    # -- the call funnel -----------------------------------------------------

    def _call(
        self,
        method_name: str,
        request: Message | Callable[[], Any],
        *,
        retry_safe: bool,
        transfer: bool = False,
        consume: Callable[[Any], Any] | None = None,
        on_call: Callable[[Any], None] | None = None,
    ) -> Any:
        """Invoke one RPC with deadline, identity, retries and error mapping.

        ``timeout`` bounds the whole call including retries, so a caller's
        latency budget holds even while the server is down. For streaming
        RPCs:

        * ``request`` may be a zero-argument callable building the request
          afresh for each attempt: a client stream must be replayed from its
          start, a resumed download asks for a new offset;
        * ``consume`` reads a server stream within the attempt, so a failure
          mid-stream is translated and retried like any other; its result is
          the call's;
        * ``transfer`` bounds the call by ``transfer_timeout`` instead;
        * ``on_call`` receives each call in flight (it has ``cancel()``), so
          that parallel transfers can be stopped when one of them fails.
        """
        rpc = getattr(self._stub, method_name)
        budget = self.transfer_timeout if transfer else self.timeout
        deadline = None if budget is None else time.monotonic() + budget
        attempts = self.max_attempts if retry_safe else 1
        delay = _BACKOFF_INITIAL
        attempt = 1
        while True:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            message = request if isinstance(request, Message) else request()
            try:
                return self._invoke(rpc, message, timeout, consume, on_call)
            except grpc.FutureCancelledError as exc:
                raise RegistryError("the call was cancelled", grpc.StatusCode.CANCELLED) from exc
            except grpc.RpcError as exc:
                error = error_from_rpc(exc)
                if error.code != grpc.StatusCode.UNAVAILABLE or attempt >= attempts:
                    raise error from exc
                # "Equal jitter": wait between half and all of the backoff.
                pause = delay * (0.5 + 0.5 * self._random())
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise error from exc
                self._sleep(pause)
                delay = min(delay * 2, _BACKOFF_MAX)
                attempt += 1

    def _invoke(
        self,
        rpc: Any,
        request: Any,
        timeout: float | None,
        consume: Callable[[Any], Any] | None,
        on_call: Callable[[Any], None] | None,
    ) -> Any:
        if consume is not None:  # server streaming: the call is the response iterator
            call = rpc(request, timeout=timeout, metadata=self._metadata)
            if on_call is not None:
                on_call(call)
            try:
                return consume(call)
            except BaseException:
                call.cancel()  # stop the stream we no longer read (no-op once ended)
                raise
        if on_call is not None:
            future = rpc.future(request, timeout=timeout, metadata=self._metadata)
            on_call(future)
            return future.result()
        return rpc(request, timeout=timeout, metadata=self._metadata)

    # -- registered models ---------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        request = pb.CreateRegisteredModelRequest(
            name=name, description=description or "", tags=_tag_messages(tags)
        )
        response = self._call("CreateRegisteredModel", request, retry_safe=False)
        return RegisteredModel._from_proto(response.registered_model)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a model with its tags, aliases and latest version per stage."""
        request = pb.GetRegisteredModelRequest(name=name)
        response = self._call("GetRegisteredModel", request, retry_safe=True)
        return RegisteredModel._from_proto(response.registered_model)

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        """Replace the description; an empty string clears it."""
        request = pb.UpdateRegisteredModelRequest(name=name, description=description)
        response = self._call("UpdateRegisteredModel", request, retry_safe=True)
        return RegisteredModel._from_proto(response.registered_model)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        request = pb.RenameRegisteredModelRequest(name=name, new_name=new_name)
        response = self._call("RenameRegisteredModel", request, retry_safe=False)
        return RegisteredModel._from_proto(response.registered_model)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model and all its versions; its history stays readable."""
        request = pb.DeleteRegisteredModelRequest(name=name)
        self._call("DeleteRegisteredModel", request, retry_safe=False)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        request = pb.SetRegisteredModelTagRequest(name=name, key=key, value=value)
        self._call("SetRegisteredModelTag", request, retry_safe=True)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        request = pb.DeleteRegisteredModelTagRequest(name=name, key=key)
        self._call("DeleteRegisteredModelTag", request, retry_safe=False)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """Highest version in each requested stage (all four when None)."""
        if isinstance(stages, str):
            # A bare string would be split into letters by the repeated field.
            stages = [stages]
        request = pb.GetLatestVersionsRequest(name=name, stages=list(stages or ()))
        response = self._call("GetLatestVersions", request, retry_safe=True)
        return [ModelVersion._from_proto(v) for v in response.model_versions]

    # -- model versions --------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str = "",
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        *,
        lineage: Lineage | None = None,
        idempotency_key: str | None = None,
        registry_held_artifacts: bool = False,
    ) -> ModelVersion:
        """Create the next version of ``name``.

        With ``registry_held_artifacts`` the registry holds the files: leave
        ``source`` empty; the version starts PENDING_REGISTRATION until
        ``finalize_model_version`` (``log_model_version`` does all of it).

        ``run_id``/``run_link`` are MLflow's shortcuts for the same lineage
        fields; if both forms are given they must agree. Without an explicit
        ``idempotency_key`` a fresh one is generated, which makes this
        client's own retries safe; pass your own key to make *your* retries
        (e.g. a re-run CI job) safe too.
        """
        request = pb.CreateModelVersionRequest(
            name=name,
            source=source,
            run_id=run_id or "",
            run_link=run_link or "",
            description=description or "",
            tags=_tag_messages(tags),
            idempotency_key=idempotency_key or uuid.uuid4().hex,
            registry_held_artifacts=registry_held_artifacts,
        )
        if lineage is not None:
            request.lineage.CopyFrom(lineage._to_proto())
        response = self._call("CreateModelVersion", request, retry_safe=True)
        return ModelVersion._from_proto(response.model_version)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        request = pb.GetModelVersionRequest(name=name, version=_version_number(version))
        response = self._call("GetModelVersion", request, retry_safe=True)
        return ModelVersion._from_proto(response.model_version)

    def update_model_version(self, name: str, version: int | str, description: str) -> ModelVersion:
        """Replace the description; an empty string clears it."""
        request = pb.UpdateModelVersionRequest(
            name=name, version=_version_number(version), description=description
        )
        response = self._call("UpdateModelVersion", request, retry_safe=True)
        return ModelVersion._from_proto(response.model_version)

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version and its aliases; the number is never reused."""
        request = pb.DeleteModelVersionRequest(name=name, version=_version_number(version))
        self._call("DeleteModelVersion", request, retry_safe=False)

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to a stage (any case).

        With ``archive_existing_versions`` (Staging/Production only) the other
        versions in that stage are archived in the same transaction.
        """
        request = pb.TransitionModelVersionStageRequest(
            name=name,
            version=_version_number(version),
            stage=stage,
            archive_existing_versions=archive_existing_versions,
        )
        response = self._call("TransitionModelVersionStage", request, retry_safe=True)
        return ModelVersion._from_proto(response.model_version)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        request = pb.SetModelVersionTagRequest(
            name=name, version=_version_number(version), key=key, value=value
        )
        self._call("SetModelVersionTag", request, retry_safe=True)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        request = pb.DeleteModelVersionTagRequest(
            name=name, version=_version_number(version), key=key
        )
        self._call("DeleteModelVersionTag", request, retry_safe=False)

    # -- aliases ---------------------------------------------------------------

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
        response = self._call(
            "SetRegisteredModelAlias", request, retry_safe=expected_version is None
        )
        return AliasMove._from_proto(response)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        request = pb.DeleteRegisteredModelAliasRequest(name=name, alias=alias)
        self._call("DeleteRegisteredModelAlias", request, retry_safe=False)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        request = pb.GetModelVersionByAliasRequest(name=name, alias=alias)
        response = self._call("GetModelVersionByAlias", request, retry_safe=True)
        return ModelVersion._from_proto(response.model_version)

    # -- lookup and history ------------------------------------------------------

    def resolve(self, uri: str) -> ResolvedModel:
        """Resolve a ``models:/`` URI (number, stage, ``latest`` or ``@alias``).

        Only READY versions resolve. Keep ``resolved_uri`` wherever the model
        is used: unlike aliases and stages, it never moves.
        """
        request = pb.ResolveModelUriRequest(uri=uri)
        response = self._call("ResolveModelUri", request, retry_safe=True)
        return ResolvedModel._from_proto(response)

    # -- search and lineage ---------------------------------------------------

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> SearchPage[RegisteredModel]:
        """One page of models matching ``filter_string`` (MLflow's grammar plus
        OR, parentheses, ``alias``, ``description`` and timestamps; see the
        README's "Search" section).

        ``order_by`` e.g. ``["last_updated_timestamp DESC"]``; default by name.
        Pass the page's ``token`` as ``page_token`` for the next page.
        """
        request = pb.SearchRegisteredModelsRequest(
            filter=filter_string or "",
            order_by=_order_by(order_by),
            page_size=max_results,
            page_token=page_token or "",
        )
        response = self._call("SearchRegisteredModels", request, retry_safe=True)
        return SearchPage(
            tuple(RegisteredModel._from_proto(m) for m in response.registered_models),
            response.next_page_token or None,
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> SearchPage[ModelVersion]:
        """One page of versions, across models, matching ``filter_string``
        (e.g. ``"name = 'fraud' AND tags.team = 'risk'"``, ``"alias =
        'champion'"``, ``"dataset.digest = 'sha256:...'"``).

        Default order: model name, then newest version first. Results carry
        their aliases.
        """
        request = pb.SearchModelVersionsRequest(
            filter=filter_string or "",
            order_by=_order_by(order_by),
            page_size=max_results,
            page_token=page_token or "",
        )
        response = self._call("SearchModelVersions", request, retry_safe=True)
        return SearchPage(
            tuple(ModelVersion._from_proto(v) for v in response.model_versions),
            response.next_page_token or None,
        )

    def iter_registered_models(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] | str | None = None,
        *,
        page_size: int = 100,
    ) -> Iterator[RegisteredModel]:
        """Every matching model, fetching pages lazily."""
        token: str | None = None
        while True:
            page = self.search_registered_models(filter_string, page_size, order_by, token)
            yield from page
            if page.token is None:
                return
            token = page.token

    def iter_model_versions(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] | str | None = None,
        *,
        page_size: int = 100,
    ) -> Iterator[ModelVersion]:
        """Every matching version, fetching pages lazily."""
        token: str | None = None
        while True:
            page = self.search_model_versions(filter_string, page_size, order_by, token)
            yield from page
            if page.token is None:
                return
            token = page.token

    def _all_pages(self, method_name: str, build: Callable[[str], Message]) -> list[ModelVersion]:
        found: list[ModelVersion] = []
        token = ""
        while True:
            response = self._call(method_name, build(token), retry_safe=True)
            found.extend(ModelVersion._from_proto(v) for v in response.model_versions)
            if not response.next_page_token:
                return found
            token = response.next_page_token

    def find_model_versions_by_run(self, run_id: str) -> list[ModelVersion]:
        """Every version produced by a training run, across models, newest first."""
        return self._all_pages(
            "FindModelVersionsByRun",
            lambda token: pb.FindModelVersionsByRunRequest(
                run_id=run_id, page_size=1000, page_token=token
            ),
        )

    def find_model_versions_by_dataset(self, digest: str) -> list[ModelVersion]:
        """Every version trained on the data set with this digest, newest first."""
        return self._all_pages(
            "FindModelVersionsByDataset",
            lambda token: pb.FindModelVersionsByDatasetRequest(
                digest=digest, page_size=1000, page_token=token
            ),
        )

    def get_model_version_lineage(
        self, name: str, version: int | str, *, max_depth: int = 0
    ) -> VersionLineage:
        """A version's ancestors and descendants through lineage parent links,
        across models. ``max_depth`` 0 lets the server choose (100)."""
        request = pb.GetModelVersionLineageRequest(
            name=name, version=_version_number(version), max_depth=max_depth
        )
        response = self._call("GetModelVersionLineage", request, retry_safe=True)
        return VersionLineage._from_proto(response)

    # -- history ---------------------------------------------------------------

    def list_model_events(
        self,
        name: str = "",
        *,
        after_event_id: int = 0,
        page_size: int = 0,
        version: int | str = 0,
        alias: str = "",
        kinds: Sequence[str] = (),
        actor: str = "",
        since: datetime | int | None = None,
        until: datetime | int | None = None,
    ) -> EventPage:
        """One page of recorded changes, oldest first.

        ``name`` "" lists changes to every model; a deleted model's history
        is found by the name it had. The other filters narrow the page (all
        must hold): ``version`` (needs ``name``), ``alias``, ``kinds`` (e.g.
        ``["alias_set", "version_stage_changed"]``), ``actor``, and the time
        range ``since`` (inclusive) to ``until`` (exclusive), as aware
        datetimes or epoch ms. ``page_size`` 0 lets the server choose (100).
        """
        request = pb.ListModelEventsRequest(
            name=name,
            after_event_id=after_event_id,
            page_size=page_size,
            version=_version_number(version) if version else 0,
            alias=alias,
            kinds=list(kinds),
            actor=actor,
            since_timestamp=_epoch_ms(since, "since"),
            until_timestamp=_epoch_ms(until, "until"),
        )
        response = self._call("ListModelEvents", request, retry_safe=True)
        return EventPage._from_proto(response)

    def iter_model_events(
        self,
        name: str = "",
        *,
        after_event_id: int = 0,
        page_size: int = 0,
        version: int | str = 0,
        alias: str = "",
        kinds: Sequence[str] = (),
        actor: str = "",
        since: datetime | int | None = None,
        until: datetime | int | None = None,
    ) -> Iterator[ModelEvent]:
        """All matching events after ``after_event_id``, fetching pages lazily."""
        cursor = after_event_id
        while True:
            page = self.list_model_events(
                name,
                after_event_id=cursor,
                page_size=page_size,
                version=version,
                alias=alias,
                kinds=kinds,
                actor=actor,
                since=since,
                until=until,
            )
            yield from page.events
            if page.next_after_event_id == 0:
                return
            if page.next_after_event_id <= cursor:
                # A cursor that does not advance would loop forever.
                raise Internal(
                    f"server returned a non-advancing cursor {page.next_after_event_id}"
                    f" after {cursor}"
                )
            cursor = page.next_after_event_id

    def get_model_state_as_of(self, name: str, as_of: datetime | int) -> ModelStateAsOf:
        """The model as it was at ``as_of`` (aware datetime or epoch ms):
        every version's stage and status, and every alias's target.

        E.g. ``state.version_in_stage("Production")`` or
        ``state.aliases["champion"]``.
        """
        request = pb.GetModelStateAsOfRequest(name=name, as_of_timestamp=_epoch_ms(as_of, "as_of"))
        response = self._call("GetModelStateAsOf", request, retry_safe=True)
        return ModelStateAsOf._from_proto(response)

    # -- access control ----------------------------------------------------------

    def whoami(self) -> WhoAmI:
        """Who the server takes this client to be, and its global role."""
        response = self._call("WhoAmI", pb.WhoAmIRequest(), retry_safe=True)
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
        response = self._call("SetModelProtection", request, retry_safe=True)
        return RegisteredModel._from_proto(response.registered_model)

    def set_model_grant(self, name: str, principal: str, role: str) -> None:
        """Give ``principal`` at least ``role`` ("reader", "writer", "admin")
        on one model, e.g. a team's CI writer on its own models only."""
        request = pb.SetModelGrantRequest(name=name, principal=principal, role=_role_value(role))
        self._call("SetModelGrant", request, retry_safe=True)

    def delete_model_grant(self, name: str, principal: str) -> None:
        request = pb.DeleteModelGrantRequest(name=name, principal=principal)
        self._call("DeleteModelGrant", request, retry_safe=False)

    def list_model_grants(self, name: str) -> list[ModelGrant]:
        response = self._call(
            "ListModelGrants", pb.ListModelGrantsRequest(name=name), retry_safe=True
        )
        return [ModelGrant(g.principal, _role_name(g.role)) for g in response.grants]

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
        response = self._call("CreateAccessToken", request, retry_safe=False)
        return NewAccessToken(AccessToken._from_proto(response.token), response.secret)

    def list_access_tokens(self, *, include_inactive: bool = False) -> list[AccessToken]:
        request = pb.ListAccessTokensRequest(include_inactive=include_inactive)
        response = self._call("ListAccessTokens", request, retry_safe=True)
        return [AccessToken._from_proto(t) for t in response.tokens]

    def revoke_access_token(self, token_id: int) -> AccessToken:
        """Revoke a token; calls carrying it fail within seconds on every replica."""
        request = pb.RevokeAccessTokenRequest(token_id=token_id)
        response = self._call("RevokeAccessToken", request, retry_safe=True)
        return AccessToken._from_proto(response.token)

    # -- registry-held artifacts -------------------------------------------------

    def log_model_version(
        self,
        name: str,
        local_dir: str | os.PathLike[str],
        *,
        run_id: str | None = None,
        run_link: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        lineage: Lineage | None = None,
        idempotency_key: str | None = None,
        max_workers: int = 4,
        progress: _artifacts.ProgressCallback | None = None,
    ) -> ModelVersion:
        """Register the files under ``local_dir`` as the next version; return it READY.

        Checks that every file can be read (paths relative to ``local_dir``,
        '/'-separated), creates a pending version, uploads the files on
        ``max_workers`` threads, each read once and hashed as it is sent, and
        finalizes with the sizes and sha256 the server stored, which must
        match what was sent (ChecksumMismatch otherwise, also when a file
        changes while it is read). If anything fails after the version was
        created, it is aborted (FAILED_REGISTRATION, files removed) and the
        error re-raised. With an ``idempotency_key``, a
        re-run resumes a version left pending by a crashed run (files already
        uploaded with the same sha256 are skipped) and returns one that is
        already READY as is. ``progress(done, total)`` reports bytes uploaded.
        """
        return _artifacts.log_model_version(
            self,
            name,
            local_dir,
            run_id=run_id,
            run_link=run_link,
            description=description,
            tags=tags,
            lineage=lineage,
            idempotency_key=idempotency_key,
            max_workers=max_workers,
            progress=progress,
        )

    def download_artifacts(
        self,
        uri: str,
        dst_dir: str | os.PathLike[str],
        *,
        max_workers: int = 4,
        prefer_presigned: bool = True,
        progress: _artifacts.ProgressCallback | None = None,
    ) -> DownloadedModel:
        """Download the files of the version ``uri`` resolves to into ``dst_dir``.

        The URI is resolved once; every file comes from that exact version.
        Files keep their path inside the model: ``models:/m/1/weights`` puts
        the files under ``weights/`` at ``dst_dir/weights/...``. A file
        already there with the right size and sha256 is left alone; others
        are written to a temporary file, checked and renamed into place, so
        a wrong or partial file never sits at the final path
        (``ChecksumMismatch`` if the bytes do not match the manifest). Files
        come from presigned URLs when the server offers them and
        ``prefer_presigned``, else (or if a URL fails) through the registry.
        """
        return _artifacts.download_model(
            self,
            uri,
            dst_dir,
            max_workers=max_workers,
            prefer_presigned=prefer_presigned,
            progress=progress,
        )

    def upload_artifact(
        self,
        name: str,
        version: int | str,
        local_path: str | os.PathLike[str],
        path: str | None = None,
    ) -> ArtifactFile:
        """Upload one file of a pending version, as ``path`` (default: its file name).

        Streams the file; on UNAVAILABLE it is sent again from the start.
        Returns what the server stored (checked against what was sent).
        """
        return _artifacts.upload_file(
            self,
            name,
            _version_number(version),
            local_path,
            os.path.basename(os.fspath(local_path)) if path is None else path,
        )

    def finalize_model_version(
        self, name: str, version: int | str, manifest: Iterable[ArtifactFile]
    ) -> ModelVersion:
        """Make a pending version READY if its files match ``manifest`` exactly.

        Not resent on UNAVAILABLE (a replay after success finds the version
        READY and fails); re-read the version to find out.
        """
        request = pb.FinalizeModelVersionRequest(
            name=name,
            version=_version_number(version),
            expected_manifest=[f._to_proto() for f in manifest],
        )
        response = self._call("FinalizeModelVersion", request, retry_safe=False)
        return ModelVersion._from_proto(response.model_version)

    def abort_model_version(self, name: str, version: int | str, reason: str = "") -> ModelVersion:
        """Give up on a pending version: FAILED_REGISTRATION, its files removed."""
        request = pb.AbortModelVersionRequest(
            name=name, version=_version_number(version), reason=reason
        )
        # Aborting an aborted version changes nothing, so a replay is safe.
        response = self._call("AbortModelVersion", request, retry_safe=True)
        return ModelVersion._from_proto(response.model_version)

    def list_artifacts(
        self, name_or_uri: str, version: int | str | None = None
    ) -> list[ArtifactFile]:
        """Files of ``name`` ``version``, or of the version a ``models:/`` URI names.

        Sorted by path. A path in the URI lists only that file or folder.
        """
        return list(self.list_artifacts_with_version(name_or_uri, version).files)

    def list_artifacts_with_version(
        self, name_or_uri: str, version: int | str | None = None
    ) -> ArtifactListing:
        """Like ``list_artifacts``, with the exact version the files belong to."""
        if version is None:
            request = pb.ListArtifactsRequest(uri=name_or_uri)
        else:
            request = pb.ListArtifactsRequest(name=name_or_uri, version=_version_number(version))
        response = self._call("ListArtifacts", request, retry_safe=True)
        return ArtifactListing._from_proto(response)

    def get_artifact_download_urls(
        self,
        name: str,
        version: int | str,
        paths: Sequence[str] = (),
        expires_in_seconds: int = 0,
    ) -> ArtifactDownloadUrls:
        """Presigned GET URLs for ``paths`` (default: every file) of a READY version.

        ``supported`` is False when the store cannot presign; use
        ``download_artifact`` then. ``expires_in_seconds`` 0 means one hour.
        """
        if isinstance(paths, str):
            paths = [paths]
        request = pb.GetArtifactDownloadUrlsRequest(
            name=name,
            version=_version_number(version),
            paths=list(paths),
            expires_in_seconds=expires_in_seconds,
        )
        response = self._call("GetArtifactDownloadUrls", request, retry_safe=True)
        return ArtifactDownloadUrls._from_proto(response)

    def download_artifact(
        self,
        name: str,
        version: int | str,
        path: str,
        dst_file: BinaryIO,
        *,
        offset: int = 0,
    ) -> ArtifactFile:
        """Stream one file of a READY version into the open binary ``dst_file``.

        Writes the bytes from ``offset`` on at the file's current position; a
        stream broken by UNAVAILABLE resumes where it stopped. Checks the
        size, and the sha256 when starting at 0 (``ChecksumMismatch``).
        Returns the file's manifest entry. ``download_artifacts`` is the
        convenient way to fetch whole versions.
        """
        sink = _artifacts._Sink(dst_file, start=offset, path=path)
        entry = _artifacts.stream_file(self, name, _version_number(version), path, sink)
        sink.verify(entry)
        return entry
