"""Assembles and runs the gRPC server.

The servicer gets its Registry through the constructor; health and reflection
are registered here; SIGTERM/SIGINT stop accepting new calls and give in-flight
ones a grace period to finish.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import signal
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from registry_api import wire
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_api.rpcs import RPCS, SERVICE
from registry_server import certificates, memory, metrics, migrate
from registry_server import tracing as tracing_setup
from registry_server.api.auth import AuthInterceptor
from registry_server.api.drain import DrainGate
from registry_server.api.interceptors import ErrorAndLoggingInterceptor, PreserializedResponses
from registry_server.api.metrics import MetricsInterceptor
from registry_server.api.pools import ReadPool
from registry_server.api.servicer import ModelRegistryServicer
from registry_server.api.uploads import UploadGate, grant_lookup
from registry_server.api.watch import WatchPool
from registry_server.artifacts import factory as artifact_factory
from registry_server.artifacts.base import ArtifactStore
from registry_server.config import DEFAULT_STATEMENT_TIMEOUT, ServerConfig, ServerTls, load_tls
from registry_server.console import ConsoleServices, console_routes
from registry_server.domain.access import AccessControl, Role
from registry_server.domain.artifacts import ArtifactService
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.grants import GrantService
from registry_server.domain.history import HistoryService
from registry_server.domain.lineage import LineageService
from registry_server.domain.registry import Registry
from registry_server.domain.search import SearchService
from registry_server.domain.tokens import Authenticator, TokenService
from registry_server.domain.webhooks import SecretBox, WebhookPolicy, WebhookService
from registry_server.events.feed import EventFeed
from registry_server.events.watch import WatchService
from registry_server.events.webhook_sender import WebhookSender
from registry_server.http import files as side_files
from registry_server.http.app import create_app
from registry_server.http.server import HttpServer
from registry_server.lifecycle import BoundedProbe, ServingState
from registry_server.store import webhooks as webhook_store
from registry_server.store.database import Database, is_sqlite, make_engine

log = logging.getLogger(__name__)

SERVICE_NAME = SERVICE.full_name
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    database: Database
    health: health.HealthServicer
    store: ArtifactStore
    artifacts: ArtifactService
    read_pool: futures.ThreadPoolExecutor
    feed: EventFeed
    watch_pool: futures.ThreadPoolExecutor
    webhook_sender: WebhookSender | None = None
    # Serving or draining (lifecycle.py): what /healthz and a drain read.
    serving: ServingState = field(default_factory=ServingState)
    # The HTTP side port (--http-listen), if any.
    http: HttpServer | None = None
    # Spans' provider and instrumentation, None when tracing is off (tracing.py).
    tracing: tracing_setup.Tracing | None = None
    # Refuses calls once draining, counts those in flight (api/drain.py).
    drain_gate: DrainGate | None = None

    def drain(self, grace: float) -> bool:
        """Stop taking calls and wait up to ``grace`` seconds for those in
        flight; True when they all ended. The listener stays open meanwhile:
        new calls are answered UNAVAILABLE (api/drain.py)."""
        # Draining first: /healthz answers 503 and new calls are refused.
        self.serving.begin_draining()
        self.health.enter_graceful_shutdown()
        # Watch streams first, with UNAVAILABLE: their clients resume on
        # another replica instead of holding this one for the grace period.
        self.feed.close()
        return self.drain_gate is None or self.drain_gate.wait_idle(grace)

    def stop(self, grace: float | None = 5.0) -> None:
        """Drain, stop gRPC, release the rest: for servers run inside
        another program (tests). A server process ends as serve_forever says."""
        deadline = time.monotonic() + (grace or 0.0)
        self.drain(grace or 0.0)
        self.server.stop(max(0.0, deadline - time.monotonic())).wait()
        self.release()

    def release(self) -> None:
        """Everything but the gRPC server, once it takes no more calls."""
        if self.webhook_sender is not None:
            self.webhook_sender.stop()
            self.webhook_sender.db.dispose()
        self.read_pool.shutdown(wait=False)
        self.watch_pool.shutdown(wait=False)
        if self.http is not None:  # last: /healthz says 503 until the end
            self.http.stop()
        self.database.dispose()
        if self.tracing is not None:
            self.tracing.shutdown()


def prepare_database(
    url: str,
    pool_size: int,
    prepared_statements: bool = True,
    statement_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
    instrument: bool = False,
) -> Database:
    """Open the database; migrate SQLite, refuse a PostgreSQL schema that is behind.
    `instrument`: keep the pool metrics (registry_server/metrics.py)."""
    engine = make_engine(
        url,
        pool_size=pool_size,
        prepared_statements=prepared_statements,
        statement_timeout=statement_timeout,
    )
    if is_sqlite(url):
        migrate.upgrade(engine)
        return Database(engine, instrument=instrument)
    try:
        migrate.ensure_current(engine)
    except Exception:
        engine.dispose()
        raise
    reads = make_engine(
        url,
        pool_size=pool_size,
        for_reads=True,
        prepared_statements=prepared_statements,
        statement_timeout=statement_timeout,
    )
    return Database(engine, reads, statement_timeout=statement_timeout, instrument=instrument)


def connection_options(config: ServerConfig) -> list[tuple[str, int]]:
    """Bounds on connections (grpc core channel arguments), so idle and dead
    ones cannot pile up until the process runs out of file descriptors.

    A connection costs no worker while it has no call, only a descriptor and
    some memory, but the descriptors are finite (`ulimit -n`, whose soft
    limit `raise_descriptor_limit` lifts to the hard one at start). A socket that never finishes its
    handshake is closed after ``handshake_timeout``; a connection without
    calls gets GOAWAY after ``connection_idle`` (clients reconnect on their
    next call); one whose peer vanished (no answer to a keepalive ping within
    ``keepalive_timeout``, pings every ``keepalive_time`` of silence) is
    closed even with calls open, which ends them. ``streams_per_connection``
    caps the calls one connection may have open; the client queues the rest.

    Every connection is asked to go away (GOAWAY) after ``max_connection_age``
    (gRPC adds +-10% jitter, so clients do not all reconnect at once); its
    client opens a new one for its next call, which a Service or the kernel
    (SO_REUSEPORT, --processes) may send to another replica or process, so a
    scale-up gets its share of long-lived clients. Calls still open on the old
    connection get ``max_connection_age_grace`` to finish; a longer one (a
    watch stream) then ends with UNAVAILABLE and resumes on the new connection.
    """

    def ms(seconds: float) -> int:
        return max(1, round(seconds * 1000))

    return [
        ("grpc.max_connection_idle_ms", ms(config.connection_idle)),
        ("grpc.server_handshake_timeout_ms", ms(config.handshake_timeout)),
        ("grpc.keepalive_time_ms", ms(config.keepalive_time)),
        ("grpc.keepalive_timeout_ms", ms(config.keepalive_timeout)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_concurrent_streams", config.streams_per_connection),
        ("grpc.max_connection_age_ms", ms(config.max_connection_age)),
        ("grpc.max_connection_age_grace_ms", ms(config.max_connection_age_grace)),
    ]


def raise_descriptor_limit() -> int:
    """Lift this process's soft limit on open files to its hard limit, and
    return it: every connection takes a descriptor, and a soft limit of 1,024
    (a common default) would refuse connections long before memory runs
    short. Raising the hard limit needs privileges: that is the operator's."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, hard)
    return soft


def _event_feed(config: ServerConfig, database: Database) -> EventFeed:
    """The process's one reader of new events (events/feed.py). PostgreSQL:
    a connection of its own, which LISTENs; SQLite: woken by this process's
    commits, and a catch-up read covers other processes on the same file."""
    if database.dialect == "sqlite":
        # An engine of its own, so its connection is not one of the calls'.
        own = make_engine(config.database_url, pool_size=1)
        feed = EventFeed(own.connect, catch_up=0.5, on_close=own.dispose)
        database.after_write = feed.wake
        return feed
    engine = make_engine(
        config.database_url,
        pool_size=1,
        for_reads=True,
        prepared_statements=False,
        statement_timeout=config.statement_timeout,
    )
    return EventFeed(engine.connect, catch_up=1.0, on_close=engine.dispose)


def _side_port(
    config: ServerConfig,
    database: Database,
    serving: ServingState,
    reuse_port: bool,
    console: ConsoleServices | None = None,
    signer: side_files.UrlSigner | None = None,
) -> HttpServer:
    """The HTTP side port: /healthz and /metrics (registry_server/http/),
    signed download URLs (http/files.py) when `signer` is given, and the web
    console (registry_server/console/) on every other path."""
    assert config.http_listen is not None

    def pending_deliveries() -> float | None:
        try:
            with database.read() as conn:
                return webhook_store.count_pending(conn)
        except Exception:  # a scrape without the gauge, not a failed scrape
            log.warning("metrics: could not count pending webhook deliveries", exc_info=True)
            return None

    metrics.set_build_info(package_version(), migrate.head_revision())
    pending = metrics.webhook_pending_collector(pending_deliveries)
    http = HttpServer(
        create_app(
            serving,
            metrics.Exposition([pending]),
            [
                *(side_files.file_routes(console.artifacts, signer) if console and signer else ()),
                *(console_routes(console) if console is not None else ()),
            ],
        ),
        config.http_listen,
        reuse_port=reuse_port,
    )
    if signer is not None:
        signer.base = config.http_public_url or side_files.default_base(
            config.http_listen, http.port, config.listen
        )
        if signer.base is None:  # not a warning: presigning stores do not need it
            log.info(
                "--http-listen %s names no address clients of --listen %s can reach (a "
                "wildcard, or loopback while gRPC is not) and $REGISTRY_HTTP_PUBLIC_URL is "
                "not set: the side port hands out no download URLs",
                config.http_listen,
                config.listen,
            )
    http.start()
    log.info("serving /metrics and /healthz on http://%s (port %d)", config.http_listen, http.port)
    return http


def package_version() -> str:
    try:
        return importlib.metadata.version("modelregistry")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _transport(tls: ServerTls | None) -> str:
    if tls is None:
        return "plaintext"
    return "TLS, client certificates required" if tls.client_ca is not None else "TLS"


def start(
    config: ServerConfig,
    *,
    reuse_port: bool = False,
    clock: Clock = now_ms,
    tracing: tracing_setup.Tracing | None = None,
) -> RunningServer:
    """Start serving `config` in this process.

    `reuse_port` lets several processes listen on the same port (see
    supervisor.py); otherwise a port already in use is an error, as it should
    be when a second server is started by mistake. `clock` is the time every
    change, refusal and token expiry is judged by: tests pass one they can
    move instead of sleeping until the wall clock has. `tracing`: spans go
    to its provider (tests); by default tracing is what the OTEL_* environment
    asks for, usually nothing (tracing.py).
    """
    # Before any thread allocates: the arenas are made as threads need them.
    memory.bound_malloc(config.malloc_trim_interval)
    # TLS files first: a bad certificate should not cost a migration run.
    config.check_exposure()
    tls = load_tls(config)
    # Metrics are collected when there is a port to show them on.
    measured = config.http_listen is not None
    if measured:
        metrics.enable()
    database = prepare_database(
        config.database_url,
        pool_size=config.workers,
        prepared_statements=config.prepared_statements,
        statement_timeout=config.statement_timeout,
        instrument=measured,
    )
    serving = ServingState(BoundedProbe(database.ping))
    drain_gate = DrainGate(serving)
    log.info("artifact store: %s", config.artifact_store)
    traces = tracing if tracing is not None else tracing_setup.from_env()
    if traces is not None:
        traces.instrument_database(database)
    reads = ReadPool(config.read_threads)
    watch_pool = WatchPool(config.watch.max_streams)
    feed = _event_feed(config, database)
    log.info("open-file limit: %d (each connection takes one)", raise_descriptor_limit())
    authenticator = Authenticator(database, config.require_auth, clock=clock)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="rpc"),
        # Outermost first: reads are moved to their pool (api/pools.py);
        # authentication failures are logged and mapped like any other error.
        interceptors=[
            reads,
            watch_pool,
            # Tracing off: no interceptor at all. On: inside the pools, so the
            # span is opened in the thread that runs the call.
            *([traces.server_interceptor()] if traces is not None else []),
            # Metrics: outside the error mapping, so they see every call's
            # final status (api/metrics.py); absent without --http-listen.
            *([MetricsInterceptor()] if measured else []),
            # Once draining, new calls are refused here, unlogged (api/drain.py).
            drain_gate,
            ErrorAndLoggingInterceptor(
                access_log=config.access_log,
                trace_id=traces.current_trace_id if traces is not None else None,
            ),
            AuthInterceptor(authenticator, AccessControl(database, clock=clock)),
            PreserializedResponses(
                {
                    RPCS["DownloadArtifact"].full_method: wire.passthrough_or_serialize,
                    RPCS["WatchModelEvents"].full_method: wire.passthrough_or_serialize,
                }
            ),
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            *connection_options(config),
        ],
    )
    store = artifact_factory.from_url(config.artifact_store)
    if traces is not None:
        store = traces.traced_store(store)
    access = AccessControl(database, clock=clock)
    registry = Registry(database, store, access, clock=clock)
    artifacts = ArtifactService(database, store, registry)
    signer = None
    if measured:  # the side port serves signed download URLs (http/files.py)
        signer = side_files.UrlSigner(config.download_url_key or side_files.new_key())
        artifacts.registry_urls = signer
    # A token revoked here stops working here at once (other servers: within
    # the Authenticator's cache window).
    tokens = TokenService(database, access, clock=clock, on_revoke=authenticator.forget)
    if config.bootstrap_admin_token:
        tokens.ensure(config.bootstrap_admin_token, "admin", Role.ADMIN)
    webhook_policy = WebhookPolicy(config.allow_insecure_webhooks, config.allow_private_webhooks)
    secret_box = SecretBox(config.webhook_key)
    # The sender's polls and claims use a small pool of their own: a stalled
    # database holds its connections, never the calls' (and the calls'
    # statements stay theirs alone).
    sender = WebhookSender(
        Database(
            make_engine(
                config.database_url,
                pool_size=2,
                prepared_statements=False,
                statement_timeout=config.statement_timeout,
            )
        ),
        webhook_policy,
        secret_box,
        timeout=config.webhook_timeout,
        clock=clock,
    )
    servicer = ModelRegistryServicer(
        registry,
        artifacts,
        SearchService(database, access),
        HistoryService(database, access),
        LineageService(database, access),
        GrantService(database, access, clock=clock),
        tokens,
        authentication_required=config.require_auth,
        uploads=UploadGate(
            config.upload_header_timeout,
            config.uploads_per_principal,
            grant_lookup(database),
            message_timeout=config.upload_message_timeout,
        ),
        watch=WatchService(database, HistoryService(database, access), feed, config.watch),
        webhooks=WebhookService(
            database, access, webhook_policy, secret_box, clock=clock, on_queued=sender.wake
        ),
    )
    registry_pb2_grpc.add_ModelRegistryServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        if tls is None:
            port = server.add_insecure_port(config.listen)
        else:
            # Reloaded when the files change (certificates.py).
            credentials = certificates.server_credentials(config, tls)
            port = server.add_secure_port(config.listen, credentials)
    except RuntimeError as exc:
        reads.pool.shutdown(wait=False)
        watch_pool.pool.shutdown(wait=False)
        feed.close()
        database.dispose()
        raise OSError(f"cannot listen on {config.listen}: {exc}") from exc
    server.start()
    console = ConsoleServices(
        registry,
        artifacts,
        servicer.search,
        servicer.history,
        servicer.lineage,
        servicer.grants,
        authenticator,
        servicer.watch,
        clock,
    )
    try:
        http = (
            _side_port(config, database, serving, reuse_port, console, signer) if measured else None
        )
    except OSError:  # the side port's address is taken: stop what started
        server.stop(0)
        reads.pool.shutdown(wait=False)
        watch_pool.pool.shutdown(wait=False)
        feed.close()
        database.dispose()
        raise
    sender.watch_commits(database.engine)
    sender.start()
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving %s on %s (port %d, %s)", SERVICE_NAME, config.listen, port, _transport(tls))
    return RunningServer(
        server,
        port,
        database,
        health_servicer,
        store,
        artifacts,
        reads.pool,
        feed,
        watch_pool.pool,
        sender,
        serving,
        http=http,
        tracing=traces,
        drain_gate=drain_gate,
    )


def serve_forever(config: ServerConfig, *, reuse_port: bool = False) -> None:
    running = start(config, reuse_port=reuse_port)
    stopping = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("received %s; finishing in-flight calls", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    stopping.wait()
    if not running.drain(config.grace_seconds):
        assert running.drain_gate is not None
        log.warning(
            "%d calls still in flight after the %g s grace period; ending them",
            running.drain_gate.in_flight,
            config.grace_seconds,
        )
    running.release()
    log.info("stopped")
    # The process ends without grpc's graceful stop, which would cancel the
    # calls that reached the server in its last instant (their clients see
    # CANCELLED and do not retry; api/drain.py). Exiting closes the
    # connections instead: such a call fails UNAVAILABLE and is retried on
    # another replica. Nothing is left to clean up: no call is running,
    # the database is disposed of, spans and logs are flushed.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
