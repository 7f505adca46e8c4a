"""The server's environment variables: one table, printed by `serve --help`.

Kept apart from config.py (which reads them) so the table, the longest part
of the configuration, has a module of its own; config.py re-exports it.
"""

from __future__ import annotations

import textwrap

#: Every environment variable the server's code reads, with the flag it stands
#: for (if any) and what it does: `registry-server serve --help` prints this
#: table, and a test checks that no variable read under registry_server/ is
#: missing from it.
ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    ("REGISTRY_DATABASE_URL", "--database-url", "metadata database (holds the password)"),
    ("REGISTRY_ARTIFACT_STORE", "--artifact-store", "where registry-held files go"),
    ("REGISTRY_LISTEN", "--listen", "host:port to listen on"),
    ("REGISTRY_WORKERS", "--workers", "threads for calls that may wait"),
    ("REGISTRY_READ_THREADS", "--read-threads", "threads for reads"),
    ("REGISTRY_PROCESSES", "--processes", "server processes sharing the port, or auto"),
    ("REGISTRY_REQUIRE_AUTH", "--require-auth", "every call needs a bearer token (true/false)"),
    (
        "REGISTRY_INSECURE_ALLOW_ANONYMOUS",
        "--insecure-allow-anonymous",
        "serve beyond loopback without authentication (true/false)",
    ),
    (
        "REGISTRY_BOOTSTRAP_ADMIN_TOKEN",
        "",
        "a secret of 32+ characters made an admin token at start (principal admin)",
    ),
    ("REGISTRY_ACCESS_LOG", "--access-log", "log every successful call too (true/false)"),
    (
        "REGISTRY_LOG_FORMAT",
        "--log-format",
        "text (default) or json: one JSON object per line (docs/operations.md)",
    ),
    (
        "REGISTRY_HTTP_LISTEN",
        "--http-listen",
        "host:port of the HTTP side port (/metrics, /healthz); off unless set",
    ),
    (
        "REGISTRY_HTTP_PUBLIC_URL",
        "",
        "base URL clients reach the side port at, for its download URLs (default: "
        "http://<--http-listen>, none for a wildcard address)",
    ),
    (
        "REGISTRY_DOWNLOAD_URL_KEY",
        "",
        "key signing the side port's download URLs, the same on every replica "
        "(default: random per serve)",
    ),
    (
        "PROMETHEUS_MULTIPROC_DIR",
        "",
        "metrics of --processes N: an empty directory shared by the processes "
        "(default: a fresh temporary one)",
    ),
    (
        "REGISTRY_UPLOAD_HEADER_TIMEOUT",
        "",
        "seconds an UploadArtifact stream may take to send its header (default 10)",
    ),
    (
        "REGISTRY_UPLOADS_PER_PRINCIPAL",
        "",
        "UploadArtifact streams one caller may have open at once (default 8)",
    ),
    (
        "REGISTRY_UPLOAD_MESSAGE_TIMEOUT",
        "",
        "seconds an UploadArtifact stream may then wait for its next message (default 60)",
    ),
    (
        "REGISTRY_CONNECTION_IDLE",
        "",
        "seconds a connection may stay without calls before it is closed (default 300)",
    ),
    (
        "REGISTRY_HANDSHAKE_TIMEOUT",
        "",
        "seconds a new connection may take for its TLS and HTTP/2 handshake (default 30)",
    ),
    (
        "REGISTRY_KEEPALIVE_TIME",
        "",
        "seconds between the server's pings on a quiet connection (default 60); "
        "one unanswered for REGISTRY_KEEPALIVE_TIMEOUT (default 20) closes it",
    ),
    ("REGISTRY_KEEPALIVE_TIMEOUT", "", "seconds a keepalive ping may go unanswered (default 20)"),
    (
        "REGISTRY_STREAMS_PER_CONNECTION",
        "",
        "calls one connection may have open at once (default 100); more wait in the client",
    ),
    (
        "REGISTRY_MAX_CONNECTION_AGE",
        "",
        "seconds before a client is asked to reconnect (default 300), so connections "
        "spread over new replicas; calls open then get REGISTRY_MAX_CONNECTION_AGE_GRACE",
    ),
    (
        "REGISTRY_MAX_CONNECTION_AGE_GRACE",
        "",
        "seconds the calls on an aged connection get to finish (default 30)",
    ),
    (
        "REGISTRY_MALLOC_TRIM_INTERVAL",
        "",
        "seconds between two returns of free memory to the system (default 10; 0: never)",
    ),
    ("MALLOC_ARENA_MAX", "", "glibc: malloc arenas (default here 2, see docs/operations.md)"),
    ("MALLOC_MMAP_THRESHOLD_", "", "glibc: bytes from which malloc maps (default here 1 MiB)"),
    (
        "REGISTRY_WATCH_STREAMS_PER_PRINCIPAL",
        "",
        "WatchModelEvents streams one caller may have open at once (default 64)",
    ),
    (
        "REGISTRY_WATCH_STREAMS_MAX",
        "",
        "WatchModelEvents streams one server process may hold, one thread each (default 1024)",
    ),
    (
        "REGISTRY_WATCH_HEARTBEAT",
        "",
        "seconds between heartbeats on an idle watch stream (default 10)",
    ),
    (
        "REGISTRY_WATCH_BUFFER",
        "",
        "events a watch stream may have queued before it is cut off to resume (default 1000)",
    ),
    (
        "REGISTRY_PREPARED_STATEMENTS",
        "",
        "PostgreSQL: prepare the hot lookups once per connection (default true); "
        "false behind a pooler in transaction mode (PgBouncer)",
    ),
    (
        "REGISTRY_STATEMENT_TIMEOUT",
        "",
        "PostgreSQL: seconds a statement or lock wait may take at most (default 30); "
        "writes end sooner when their call's deadline is nearer",
    ),
    (
        "REGISTRY_GC_PENDING_AGE",
        "gc --pending-older-than",
        "how long a pending version must be idle before `registry-server gc` fails it "
        "(default 24h; longer than any upload takes)",
    ),
    (
        "REGISTRY_ALLOW_INSECURE_WEBHOOKS",
        "--allow-insecure-webhooks",
        "accept http:// webhook URLs, not only https:// (true/false)",
    ),
    (
        "REGISTRY_ALLOW_PRIVATE_WEBHOOKS",
        "--allow-private-webhooks",
        "accept webhook URLs whose host resolves to a loopback, link-local or private "
        "address (true/false)",
    ),
    (
        "REGISTRY_WEBHOOK_TIMEOUT",
        "",
        "seconds a webhook receiver may take to connect and to answer (default 10)",
    ),
    (
        "REGISTRY_WEBHOOK_KEY",
        "",
        "a Fernet key that encrypts webhook secrets in the database (default: stored as given)",
    ),
    ("REGISTRY_TLS_CERT", "--tls-cert", "serve TLS with this PEM certificate chain"),
    ("REGISTRY_TLS_KEY", "--tls-key", "the certificate's unencrypted private key"),
    ("REGISTRY_TLS_CLIENT_CA", "--tls-client-ca", "mutual TLS: CA of client certificates"),
    (
        "OTEL_TRACES_EXPORTER",
        "",
        "tracing (off by default): otlp or console turns it on, none keeps it off "
        "(needs the tracing extra; docs/operations.md)",
    ),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "", "where otlp sends spans (default http://localhost:4317)"),
    (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "",
        "grpc (default, port 4317) or http/protobuf (port 4318)",
    ),
    ("OTEL_SERVICE_NAME", "", "the service name on spans (default registry-server)"),
    (
        "OTEL_TRACES_SAMPLER",
        "",
        "which calls are traced, e.g. parentbased_traceidratio with "
        "OTEL_TRACES_SAMPLER_ARG=0.01 (default parentbased_always_on)",
    ),
    ("OTEL_TRACES_SAMPLER_ARG", "", "the sampler's argument (a ratio)"),
    ("OTEL_SDK_DISABLED", "", "true: no tracing, whatever else is set"),
    ("AWS_ACCESS_KEY_ID", "", "S3 access key of an s3:// artifact store"),
    ("AWS_SECRET_ACCESS_KEY", "", "its secret key"),
    ("AWS_REGION", "", "its region when the URL has no region="),
)

#: Read by `python -m registry_server.healthcheck` (as by the `registry` CLI), not by serve.
HEALTHCHECK_ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("REGISTRY_TLS", "1/0: connect with TLS or plaintext"),
    ("REGISTRY_TLS_CA", "CA to verify the server with (default: $REGISTRY_TLS_CERT)"),
    ("REGISTRY_TLS_CLIENT_CERT", "client certificate, for a server with a client CA"),
    ("REGISTRY_TLS_CLIENT_KEY", "its private key"),
    ("REGISTRY_TLS_SERVER_NAME", "name the server's certificate must carry"),
)


def environment_help() -> str:
    """The environment section of `registry-server serve --help`."""
    width = max(len(name) for name, _, _ in ENVIRONMENT) + 4

    def entry(name: str, text: str) -> str:
        return textwrap.fill(
            text, 100, initial_indent=f"  {name:<{width - 2}}", subsequent_indent=" " * width
        )

    lines = ["Environment (a flag wins over its variable; see docs/operations.md):"]
    lines += [entry(name, f"{flag}: {text}" if flag else text) for name, flag, text in ENVIRONMENT]
    lines.append("Read by the health check (python -m registry_server.healthcheck), besides")
    lines.append("REGISTRY_LISTEN and REGISTRY_TLS_CERT:")
    lines += [entry(name, text) for name, text in HEALTHCHECK_ENVIRONMENT]
    return "\n".join(lines) + "\n"
