"""The connection under every ``RegistryClient`` method: channel, identity,
and ``_call``, the one funnel every RPC goes through.

``_call`` is the single place that sets deadlines, sends the caller's
identity, retries and translates errors, so those policies cannot drift apart
between methods. What it needs to know about each RPC (is it safe to resend?)
is in the tables below, the client's one record of per-RPC facts.
"""

from __future__ import annotations

import getpass
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

import grpc
from google.protobuf.message import Message

from registry_api import metadata as metadata_keys
from registry_api import wire
from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_api.rpcs import RPCS
from registry_client._errors import RegistryError, error_from_rpc
from registry_client.tls import open_channel, tls_settings

__all__ = ["DEFAULT_TARGET", "RETRY_SAFE", "RPC_METHODS", "Transport"]

DEFAULT_TARGET = "127.0.0.1:50051"

# -- per-RPC facts ----------------------------------------------------------------

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
    "WatchModelEvents": "watch_model_events",
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
    "ImportRegisteredModel": "import_registered_model",
    "ImportModelVersion": "import_model_version",
    "ImportRegisteredModelAlias": "import_registered_model_alias",
    "CreateWebhook": "create_webhook",
    "ListWebhooks": "list_webhooks",
    "UpdateWebhook": "update_webhook",
    "DeleteWebhook": "delete_webhook",
    "ListWebhookDeliveries": "list_webhook_deliveries",
    "TestWebhook": "test_webhook",
}

#: RPCs resent on UNAVAILABLE, as the contract marks them (``idempotency_level``
#: in the .proto, read by ``registry_api.rpcs``): doing them twice leaves the
#: registry as doing them once would, and reports the same result. Reads;
#: sets, updates and stage transitions (same final state); CreateModelVersion,
#: which this client always sends with an idempotency key; AbortModelVersion
#: (aborting an aborted version changes nothing); uploads (a failed upload
#: stores nothing; a lost response is looked up, see ``artifacts.upload``) and
#: downloads (resumed at the offset reached). SetRegisteredModelAlias is
#: resent unless it is a compare-and-swap, whose replay would see the alias
#: already moved: its method says so per call.
#:
#: Never resent: creating or renaming a model (a replay fails with
#: ALREADY_EXISTS / NOT_FOUND although the first attempt worked), the deletes
#: (NOT_FOUND on replay), FinalizeModelVersion (a replay after success finds
#: the version READY and fails) and CreateAccessToken (a second token).
RETRY_SAFE: frozenset[str] = frozenset(name for name, facts in RPCS.items() if facts.retry_safe)

# -- retries and channel ----------------------------------------------------------

#: Seconds a resend waits for a connection before ``on_connection_wait`` is told.
CONNECTION_WAIT_NOTICE = 1.0

# Backoff between attempts on UNAVAILABLE: 50 ms doubling up to 2 s, with
# jitter so that many clients cut off by the same outage do not come back in
# lock-step.
_BACKOFF_INITIAL = 0.05
_BACKOFF_MAX = 2.0

# Reconnect backoff (the first two options): after a failed connection attempt
# a gRPC channel waits before it tries again (1 s at first, times 1.6 per
# failure, up to 120 s: gRPC's doc/connection-backoff.md), and calls made
# meanwhile fail at once with UNAVAILABLE. With those defaults our five
# attempts (0.75 s of backoff) all fell inside the first second: a server up
# 0.43 s after a client's first call still gave Unavailable at 0.52 s; after a
# long outage a client could keep failing for two minutes after the server
# came back. 100 ms growing to 1 s caps a waiting client at one connection
# attempt per second. Not set: ``grpc.min_reconnect_backoff_ms``, which despite
# its name is how long one connection attempt may take (20 s); lowering it
# would cut off slow networks.
#
# Conservative keep-alive: one ping per 5 minutes is the most a gRPC server
# accepts by default without answering GOAWAY "too_many_pings", and pinging
# only during calls avoids the same penalty on idle channels.
_DEFAULT_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1_000,
    "grpc.keepalive_time_ms": 300_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.primary_user_agent": "modelregistry-python",
}


def _trace_context() -> tuple[tuple[str, str], ...]:
    """The caller's trace context as W3C ``traceparent``/``tracestate`` metadata,
    so that a traced program's trace (a CI job's) continues into the server.

    Only when the program uses OpenTelemetry: a span can be open only if it
    imported ``opentelemetry.trace``, so until then this is one dictionary
    lookup and the base install (grpcio and protobuf) needs nothing more.
    Propagators are the program's own (``OTEL_PROPAGATORS``, default W3C).
    """
    trace: Any = sys.modules.get("opentelemetry.trace")
    if trace is None or not trace.get_current_span().get_span_context().is_valid:
        return ()
    try:
        from opentelemetry import propagate
    except ImportError:  # opentelemetry-api half there: send nothing extra
        return ()
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())


def _environment_options() -> dict[str, Any]:
    """Channel options the environment sets: ``$REGISTRY_LB_POLICY`` (e.g.
    ``round_robin`` with a ``dns:///`` target naming a headless Service, so
    that every call, not every connection, is spread over the replicas; the
    `registry` CLI has no flag for it)."""
    policy = os.environ.get("REGISTRY_LB_POLICY", "").strip()
    return {"grpc.lb_policy_name": policy} if policy else {}


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (e.g. bare containers)
        return "unknown"


class Transport:
    """Channel, metadata and the call funnel; ``RegistryClient`` documents the
    arguments (it is this class plus one mixin per aggregate)."""

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
        on_connection_wait: Callable[[str, float], None] | None = None,
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
            merged = {**_DEFAULT_CHANNEL_OPTIONS, **_environment_options(), **dict(options)}
            channel = open_channel(self.target, list(merged.items()), security)
            self._owns_channel = True
        else:
            if tls is not None or tls_ca or tls_cert or tls_key or tls_server_name:
                raise ValueError("channel and tls arguments exclude each other")
            self.tls = None  # unknown: a given channel carries its own credentials
            self._owns_channel = False
        self._channel = channel
        self._stub = _stub(channel)
        self._on_connection_wait = on_connection_wait
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
        retry_safe: bool | None = None,
        transfer: bool = False,
        consume: Callable[[Any], Any] | None = None,
        on_call: Callable[[Any], None] | None = None,
    ) -> Any:
        """Invoke one RPC with deadline, identity, retries and error mapping.

        ``timeout`` bounds the whole call including retries, so a caller's
        latency budget holds even while the server is down. Whether UNAVAILABLE
        is retried is ``RETRY_SAFE``'s answer unless ``retry_safe`` overrides
        it for this one call. For streaming RPCs:

        * ``request`` may be a zero-argument callable building the request
          afresh for each attempt: a client stream must be replayed from its
          start, a resumed download asks for a new offset;
        * ``consume`` reads a server stream within the attempt, so a failure
          mid-stream is translated and retried like any other; its result is
          the call's;
        * ``transfer`` bounds the call by ``transfer_timeout`` instead;
        * ``on_call`` receives each call in flight (it has ``cancel()``), so
          that parallel transfers can be stopped when one of them fails.

        Before each resend the channel must be connected again
        (``_await_connection``): a server that cannot be reached yet (a CI
        job calling a server it has just started) is waited for until the
        deadline instead of using up the attempts in a second. Every attempt
        after the first is made on a connected channel.
        """
        rpc = getattr(self._stub, method_name)
        if retry_safe is None:
            retry_safe = method_name in RETRY_SAFE
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
                if not self._await_connection(deadline):
                    raise error from exc
                delay = min(delay * 2, _BACKOFF_MAX)
                attempt += 1

    def _await_connection(self, deadline: float | None) -> bool:
        """Wait until the channel is connected, at most until ``deadline``
        (``timeout`` seconds when the call has none, a transfer without
        ``transfer_timeout``); False when it is not by then.

        Only before a resend: the first attempt does not wait, so a call to a
        server that is up costs nothing more. On a connected channel (the
        server answered UNAVAILABLE itself) this returns within milliseconds.
        While the server cannot be reached, the channel tries to connect on
        its own reconnect schedule (see ``_DEFAULT_CHANNEL_OPTIONS``); the
        wait ends at the first connection that succeeds.
        """
        wait = self.timeout if deadline is None else deadline - time.monotonic()
        if wait <= 0:
            return False
        ready = grpc.channel_ready_future(self._channel)
        try:
            notice = self._on_connection_wait
            if notice is not None and wait > CONNECTION_WAIT_NOTICE:
                self._on_connection_wait = None  # once per client
                try:
                    ready.result(timeout=CONNECTION_WAIT_NOTICE)
                    return True
                except grpc.FutureTimeoutError:
                    wait -= CONNECTION_WAIT_NOTICE
                    notice(self.target, wait)
            ready.result(timeout=wait)
        except grpc.FutureTimeoutError:
            ready.cancel()  # stops watching the channel
            return False
        return True

    def _pages(self, method_name: str, build: Callable[[str], Message]) -> Iterator[Any]:
        """Every page of a paged RPC, lazily: ``build(page_token)`` makes each
        request, and each page is a call of its own (retried on its own)."""
        token = ""
        while True:
            response = self._call(method_name, build(token))
            yield response
            token = response.next_page_token
            if not token:
                return

    def _invoke(
        self,
        rpc: Any,
        request: Any,
        timeout: float | None,
        consume: Callable[[Any], Any] | None,
        on_call: Callable[[Any], None] | None,
    ) -> Any:
        metadata = self._metadata + _trace_context()
        if consume is not None:  # server streaming: the call is the response iterator
            call = rpc(request, timeout=timeout, metadata=metadata)
            if on_call is not None:
                on_call(call)
            try:
                return consume(call)
            except BaseException:
                call.cancel()  # stop the stream we no longer read (no-op once ended)
                raise
        if on_call is not None:
            future = rpc.future(request, timeout=timeout, metadata=metadata)
            on_call(future)
            return future.result()
        return rpc(request, timeout=timeout, metadata=metadata)


def _stub(channel: grpc.Channel) -> Any:
    """The generated stub, with DownloadArtifact reading each chunk in place
    in the received bytes (``registry_api.wire``) instead of through a parsed
    message.

    Typed ``Any`` on purpose: the generated module has no type hints, and
    grpc's stubs do not know ``_registered_method`` (which lets gRPC skip
    looking the method up on every call), though the generated code passes it
    for every RPC.
    """
    stub_class: Any = registry_pb2_grpc.ModelRegistryStub
    stub = stub_class(channel)
    unary_stream: Any = channel.unary_stream
    stub.DownloadArtifact = unary_stream(
        RPCS["DownloadArtifact"].full_method,
        request_serializer=pb.DownloadArtifactRequest.SerializeToString,
        response_deserializer=wire.decode_download,
        _registered_method=True,
    )
    return stub
