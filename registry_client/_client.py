"""The typed registry client: ``RegistryClient``.

Method names and argument order follow ``mlflow.MlflowClient`` so that code
and habits carry over; results are the frozen dataclasses of ``types`` and
failures the typed errors of ``_errors``.

The class is the connection (``_transport``) plus one mixin per aggregate, so
each file stays about one part of the registry while the API stays flat
(``client.set_registered_model_alias``, not ``client.aliases.set``).
"""

from __future__ import annotations

from registry_client._access import AccessMixin
from registry_client._aliases import ALIAS_MUST_NOT_EXIST, AliasesMixin
from registry_client._artifacts import ArtifactsMixin
from registry_client._history import HistoryMixin
from registry_client._imports import ImportsMixin
from registry_client._models import ModelsMixin
from registry_client._search import SearchMixin
from registry_client._transport import DEFAULT_TARGET, RPC_METHODS
from registry_client._versions import VersionsMixin
from registry_client._watch import WatchMixin
from registry_client._webhooks import WebhooksMixin

__all__ = ["ALIAS_MUST_NOT_EXIST", "DEFAULT_TARGET", "RPC_METHODS", "RegistryClient"]


# ArtifactsMixin builds on VersionsMixin, so it comes first in the bases.
class RegistryClient(
    ModelsMixin,
    ArtifactsMixin,
    VersionsMixin,
    AliasesMixin,
    SearchMixin,
    HistoryMixin,
    WatchMixin,
    AccessMixin,
    ImportsMixin,
    WebhooksMixin,
):
    """A connection to the model registry.

    Args:
        target: ``host:port`` of the server; defaults to ``$REGISTRY_TARGET``,
            then ``127.0.0.1:50051``.
        timeout: Seconds a method may take in total, retries included.
        transfer_timeout: Seconds one file upload or download may take,
            retries included; None (the default) sets no limit, since large
            files take long (keep-alive pings still detect a dead server).
        max_attempts: Attempts per call (>= 1) when a retry-safe call meets
            UNAVAILABLE. Each retry first waits (within ``timeout``) for the
            channel to connect, so a server that cannot be reached yet is
            waited for until the deadline; every attempt after the first is
            made on a connected channel.
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
        on_connection_wait: Called once per client, with the target and the
            seconds it will wait at most, when a retry has waited
            ``CONNECTION_WAIT_NOTICE`` seconds for a server that cannot be
            reached: a command-line tool can say why it is quiet (the
            ``registry`` CLI prints it on stderr).

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
    who knows whether re-checking state is worthwhile. The list per RPC is
    ``registry_client._transport.RETRY_SAFE``.
    """
