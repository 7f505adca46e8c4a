"""Server settings: flags override environment variables override defaults.

The defaults are the embedded setup: a SQLite file under ./registry-data and
loopback only, so `registry-server serve` works on a laptop with no setup and
is not reachable from the network. For the same reason the server speaks
plaintext unless it is given a certificate and key (TLS), optionally with a CA
that client certificates must be signed by (mutual TLS).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from registry_server.environment import ENVIRONMENT as ENVIRONMENT
from registry_server.environment import HEALTHCHECK_ENVIRONMENT as HEALTHCHECK_ENVIRONMENT
from registry_server.environment import environment_help as environment_help
from registry_server.events.settings import WatchSettings

DEFAULT_DATA_DIR = Path("registry-data")
DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_WORKERS = 16
DEFAULT_READ_THREADS = 4
# UploadArtifact admission (api/uploads.py): seconds a stream may take to send
# its header, and upload streams one principal may have open at once.
DEFAULT_UPLOAD_HEADER_TIMEOUT = 10.0
DEFAULT_UPLOADS_PER_PRINCIPAL = 8
# ... and seconds it may then wait for its next message (a chunk, or its end).
DEFAULT_UPLOAD_MESSAGE_TIMEOUT = 60.0
# Connections (server.py): seconds a connection may stay without calls before
# it is closed, may take for its handshake (TLS and HTTP/2 preface), between
# keepalive pings and for a ping's answer; concurrent calls per connection.
DEFAULT_CONNECTION_IDLE = 300.0
DEFAULT_HANDSHAKE_TIMEOUT = 30.0
DEFAULT_KEEPALIVE_TIME = 60.0
DEFAULT_KEEPALIVE_TIMEOUT = 20.0
DEFAULT_STREAMS_PER_CONNECTION = 100
# Seconds a connection may live before the server asks its client to open a
# new one (GOAWAY), so that clients spread over replicas added since; then
# seconds the calls still open on it get to finish (server.py).
DEFAULT_MAX_CONNECTION_AGE = 300.0
DEFAULT_MAX_CONNECTION_AGE_GRACE = 30.0
# Seconds between two returns of free malloc memory to the system (memory.py).
DEFAULT_MALLOC_TRIM_INTERVAL = 10.0
#: PostgreSQL: seconds a statement or lock wait may take at most (calls without
#: a deadline, reads); REGISTRY_STATEMENT_TIMEOUT.
DEFAULT_STATEMENT_TIMEOUT = 30.0


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{(data_dir / 'registry.db').as_posix()}"


def default_artifact_store(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return (data_dir / "artifacts").as_posix()


class ConfigError(ValueError):
    """Settings that cannot work together: a usage error, reported before anything starts."""


class TlsFileError(ValueError):
    """A TLS file named in the settings cannot be read or is not what its flag needs.

    Raised when the server starts, before it opens the database: a typo in a
    path or a swapped key and certificate should stop `serve` with the flag's
    name, not surface later as an opaque handshake failure on every call.
    """


#: flag -> environment variable, for messages: a setting may come from either.
_TLS_SETTINGS = {
    "--tls-cert": "REGISTRY_TLS_CERT",
    "--tls-key": "REGISTRY_TLS_KEY",
    "--tls-client-ca": "REGISTRY_TLS_CLIENT_CA",
    "--processes": "REGISTRY_PROCESSES",
    "--listen": "REGISTRY_LISTEN",
    "--workers": "REGISTRY_WORKERS",
    "--read-threads": "REGISTRY_READ_THREADS",
}


def _check_http_listen(listen: str, processes: int) -> None:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"--http-listen ($REGISTRY_HTTP_LISTEN): expected HOST:PORT, got {listen!r}"
        )
    if processes > 1 and int(port) == 0:
        raise ConfigError(
            "--http-listen ($REGISTRY_HTTP_LISTEN) needs a fixed port with --processes above 1: "
            "the processes share it"
        )


def _setting(flag: str) -> str:
    return f"{flag} (${_TLS_SETTINGS[flag]})"


def env_number(name: str, default: float, minimum: float) -> float:
    """A numeric environment variable of at least ``minimum``."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"${name} must be a number, got {value!r}") from None
    if not number >= minimum:  # also refuses nan
        raise ConfigError(f"${name} must be at least {minimum:g}, got {value!r}")
    return number


def _upload_header_timeout() -> float:
    return env_number("REGISTRY_UPLOAD_HEADER_TIMEOUT", DEFAULT_UPLOAD_HEADER_TIMEOUT, 0.1)


def _upload_message_timeout() -> float:
    return env_number("REGISTRY_UPLOAD_MESSAGE_TIMEOUT", DEFAULT_UPLOAD_MESSAGE_TIMEOUT, 0.1)


def _seconds(name: str, default: float) -> Callable[[], float]:
    return lambda: env_number(name, default, 0.1)


def _streams_per_connection() -> int:
    name = "REGISTRY_STREAMS_PER_CONNECTION"
    number = env_number(name, DEFAULT_STREAMS_PER_CONNECTION, 1)
    if number != int(number):
        raise ConfigError(f"${name} must be a whole number, got {number:g}")
    return int(number)


def _statement_timeout() -> float:
    return env_number("REGISTRY_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT, 0.1)


def _uploads_per_principal() -> int:
    number = env_number("REGISTRY_UPLOADS_PER_PRINCIPAL", DEFAULT_UPLOADS_PER_PRINCIPAL, 1)
    if number != int(number):
        raise ConfigError(f"$REGISTRY_UPLOADS_PER_PRINCIPAL must be a whole number, got {number:g}")
    return int(number)


def _whole(name: str, default: int) -> int:
    number = env_number(name, default, 1)
    if number != int(number):
        raise ConfigError(f"${name} must be a whole number, got {number:g}")
    return int(number)


def _watch_settings() -> WatchSettings:
    return WatchSettings(
        per_principal=_whole("REGISTRY_WATCH_STREAMS_PER_PRINCIPAL", 64),
        max_streams=_whole("REGISTRY_WATCH_STREAMS_MAX", 1024),
        heartbeat=env_number("REGISTRY_WATCH_HEARTBEAT", 10.0, 0.1),
        buffer=_whole("REGISTRY_WATCH_BUFFER", 1000),
    )


def env_flag(name: str, default: bool = False) -> bool:
    """A boolean environment variable: 1/true/yes/on (any case) mean true."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"${name} must be true or false, got {value!r}")


def is_loopback(listen: str) -> bool:
    """Whether `host:port` only accepts connections from this machine."""
    host = listen.rsplit(":", 1)[0].strip("[]").lower()
    if host in ("localhost", "::1"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost, or "" (all addresses)


def parse_processes(value: str) -> int:
    """`--processes`: a count, or `auto` for one per core this process may use."""
    if value.strip().lower() == "auto":
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            return os.cpu_count() or 1
    try:
        return int(value)
    except ValueError:
        raise ConfigError(
            f"{_setting('--processes')} must be a number or auto, not {value!r}"
        ) from None


@dataclass(frozen=True)
class ServerConfig:
    """What `serve` needs. TLS paths are PEM files; none of them means plaintext.

    ``tls_cert`` (the certificate chain, leaf first) and ``tls_key`` go
    together; ``tls_client_ca`` additionally requires every client to present a
    certificate signed by one of the CAs in that file.
    """

    database_url: str
    artifact_store: str = field(default_factory=default_artifact_store)
    listen: str = DEFAULT_LISTEN
    workers: int = DEFAULT_WORKERS
    # Threads for reads (api/pools.py): few, so they stay busy instead of
    # being woken for every call.
    read_threads: int = DEFAULT_READ_THREADS
    grace_seconds: float = 10.0
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # Every call must carry a valid bearer token (see domain/tokens.py).
    require_auth: bool = False
    # Serve a non-loopback address without authentication anyway.
    insecure_allow_anonymous: bool = False
    # A token secret made valid as an admin token at start (e.g. from a
    # Kubernetes Secret), so a fresh deployment has a first admin.
    bootstrap_admin_token: str | None = None
    # Log every successful call (failed and slow calls are always logged).
    access_log: bool = False
    # Server processes sharing the port (see supervisor.py).
    processes: int = 1
    # PostgreSQL: PREPARE the hot lookups once per connection (store/prepared.py).
    # Off behind a pooler in transaction mode (PgBouncer), which loses them.
    prepared_statements: bool = True
    # UploadArtifact admission (api/uploads.py).
    upload_header_timeout: float = field(default_factory=_upload_header_timeout)
    uploads_per_principal: int = field(default_factory=_uploads_per_principal)
    upload_message_timeout: float = field(default_factory=_upload_message_timeout)
    # Connections: idle, handshake and keepalive bounds (server.py).
    connection_idle: float = field(
        default_factory=_seconds("REGISTRY_CONNECTION_IDLE", DEFAULT_CONNECTION_IDLE)
    )
    handshake_timeout: float = field(
        default_factory=_seconds("REGISTRY_HANDSHAKE_TIMEOUT", DEFAULT_HANDSHAKE_TIMEOUT)
    )
    keepalive_time: float = field(
        default_factory=_seconds("REGISTRY_KEEPALIVE_TIME", DEFAULT_KEEPALIVE_TIME)
    )
    keepalive_timeout: float = field(
        default_factory=_seconds("REGISTRY_KEEPALIVE_TIMEOUT", DEFAULT_KEEPALIVE_TIMEOUT)
    )
    streams_per_connection: int = field(default_factory=_streams_per_connection)
    max_connection_age: float = field(
        default_factory=_seconds("REGISTRY_MAX_CONNECTION_AGE", DEFAULT_MAX_CONNECTION_AGE)
    )
    max_connection_age_grace: float = field(
        default_factory=_seconds(
            "REGISTRY_MAX_CONNECTION_AGE_GRACE", DEFAULT_MAX_CONNECTION_AGE_GRACE
        )
    )
    # Memory: free malloc memory returned every this many seconds (memory.py).
    malloc_trim_interval: float = field(
        default_factory=lambda: env_number(
            "REGISTRY_MALLOC_TRIM_INTERVAL", DEFAULT_MALLOC_TRIM_INTERVAL, 0
        )
    )
    # PostgreSQL: seconds a statement or lock wait may take at most; a write
    # transaction is bounded by its call's deadline below that (store/database.py).
    statement_timeout: float = field(default_factory=_statement_timeout)
    # Webhooks (domain/webhooks.py, events/webhook_sender.py).
    allow_insecure_webhooks: bool = field(
        default_factory=lambda: env_flag("REGISTRY_ALLOW_INSECURE_WEBHOOKS")
    )
    allow_private_webhooks: bool = field(
        default_factory=lambda: env_flag("REGISTRY_ALLOW_PRIVATE_WEBHOOKS")
    )
    webhook_timeout: float = field(default_factory=_seconds("REGISTRY_WEBHOOK_TIMEOUT", 10.0))
    webhook_key: str | None = field(
        default_factory=lambda: os.environ.get("REGISTRY_WEBHOOK_KEY") or None, repr=False
    )
    # WatchModelEvents limits (events/watch.py).
    watch: WatchSettings = field(default_factory=_watch_settings)
    # The HTTP side port (/metrics, /healthz; registry_server/http/): off
    # unless set. Metrics are collected only when it is on.
    http_listen: str | None = field(
        default_factory=lambda: os.environ.get("REGISTRY_HTTP_LISTEN") or None
    )
    # Signed download URLs on the side port (http/files.py): the base URL
    # clients reach it at (default: http:// and the listen address, unless a
    # wildcard), and the key that signs them (default: random per serve).
    http_public_url: str | None = field(
        default_factory=lambda: (
            (os.environ.get("REGISTRY_HTTP_PUBLIC_URL") or "").rstrip("/") or None
        )
    )
    download_url_key: str | None = field(
        default_factory=lambda: os.environ.get("REGISTRY_DOWNLOAD_URL_KEY") or None, repr=False
    )

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            given, missing = (
                ("--tls-cert", "--tls-key") if self.tls_cert else ("--tls-key", "--tls-cert")
            )
            raise ConfigError(
                f"{_setting(given)} needs {_setting(missing)}: TLS takes a certificate "
                "and its private key"
            )
        if self.bootstrap_admin_token is not None and len(self.bootstrap_admin_token) < 32:
            raise ConfigError(
                "$REGISTRY_BOOTSTRAP_ADMIN_TOKEN must be at least 32 characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        if self.processes < 1:
            raise ConfigError(f"{_setting('--processes')} must be at least 1 (or auto)")
        for flag, threads in (("--workers", self.workers), ("--read-threads", self.read_threads)):
            if threads < 1:
                raise ConfigError(f"{_setting(flag)} must be at least 1, not {threads}")
        if self.processes > 1 and self.listen.rsplit(":", 1)[-1] == "0":
            raise ConfigError(
                f"{_setting('--processes')} above 1 needs a fixed port in "
                f"{_setting('--listen')}: the processes share it"
            )
        if self.http_listen is not None:
            _check_http_listen(self.http_listen, self.processes)
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigError(
                f"{_setting('--tls-client-ca')} needs {_setting('--tls-cert')} and "
                f"{_setting('--tls-key')}: client certificates are checked in a TLS handshake"
            )

    def check_exposure(self) -> None:
        """Refuse to serve the network without authentication (unless told to).

        Checked by `serve` and `start`, not when the settings are built: the
        other commands (gc, db) read the same settings but listen nowhere.
        """
        anonymous = not self.require_auth and not self.insecure_allow_anonymous
        if anonymous and not is_loopback(self.listen):
            raise ConfigError(
                f"listening on {self.listen} without authentication would let anyone on "
                "the network change what runs in production: pass --require-auth "
                "($REGISTRY_REQUIRE_AUTH=true) and create tokens with `registry-server "
                "tokens create`, or --insecure-allow-anonymous to accept the risk"
            )

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @classmethod
    def from_env(
        cls,
        database_url: str | None = None,
        listen: str | None = None,
        workers: int | None = None,
        artifact_store: str | None = None,
        *,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_client_ca: str | None = None,
        require_auth: bool | None = None,
        insecure_allow_anonymous: bool | None = None,
        access_log: bool | None = None,
        processes: str | None = None,
        read_threads: int | None = None,
    ) -> ServerConfig:
        """Fill what the caller left out from REGISTRY_* variables, then defaults.

        Raises ConfigError for TLS settings that do not go together (whether
        they came from flags or from the environment).
        """
        return cls(
            database_url=database_url
            or os.environ.get("REGISTRY_DATABASE_URL")
            or default_database_url(),
            artifact_store=artifact_store
            or os.environ.get("REGISTRY_ARTIFACT_STORE")
            or default_artifact_store(),
            listen=listen or os.environ.get("REGISTRY_LISTEN") or DEFAULT_LISTEN,
            workers=workers
            if workers is not None
            else int(os.environ.get("REGISTRY_WORKERS", DEFAULT_WORKERS)),
            read_threads=read_threads
            if read_threads is not None
            else int(os.environ.get("REGISTRY_READ_THREADS", DEFAULT_READ_THREADS)),
            tls_cert=tls_cert or os.environ.get("REGISTRY_TLS_CERT") or None,
            tls_key=tls_key or os.environ.get("REGISTRY_TLS_KEY") or None,
            tls_client_ca=tls_client_ca or os.environ.get("REGISTRY_TLS_CLIENT_CA") or None,
            require_auth=require_auth or env_flag("REGISTRY_REQUIRE_AUTH"),
            insecure_allow_anonymous=insecure_allow_anonymous
            or env_flag("REGISTRY_INSECURE_ALLOW_ANONYMOUS"),
            bootstrap_admin_token=os.environ.get("REGISTRY_BOOTSTRAP_ADMIN_TOKEN") or None,
            access_log=access_log or env_flag("REGISTRY_ACCESS_LOG"),
            processes=parse_processes(processes or os.environ.get("REGISTRY_PROCESSES") or "1"),
            prepared_statements=env_flag("REGISTRY_PREPARED_STATEMENTS", default=True),
        )


@dataclass(frozen=True)
class ServerTls:
    """The PEM bytes gRPC takes for a TLS listener, read and checked."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None  # set: client certificates are required and verified


def load_tls(config: ServerConfig) -> ServerTls | None:
    """Read and check the TLS files of ``config``; None when it serves plaintext.

    gRPC itself only says "Failed to bind" for a bad certificate or key, and
    says nothing at all about a bad client CA until a client connects, so the
    files are checked here with the standard library's OpenSSL: each parses as
    PEM, and the key belongs to the certificate. Errors name the flag.
    """
    if not config.tls_cert or not config.tls_key:
        return None
    chain = _read_pem("--tls-cert", config.tls_cert, "CERTIFICATE")
    key = _read_pem("--tls-key", config.tls_key, "PRIVATE KEY")
    _check_certificates("--tls-cert", config.tls_cert, chain)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An empty password makes an encrypted key fail here instead of
        # prompting on the terminal; unencrypted keys ignore it.
        context.load_cert_chain(config.tls_cert, config.tls_key, password=b"")
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            problem = f"is not the private key of the certificate in {_setting('--tls-cert')}"
        else:
            problem = "is not an unencrypted PEM private key (gRPC cannot use encrypted keys)"
        raise TlsFileError(f"{_setting('--tls-key')}: {config.tls_key!r} {problem}") from exc
    client_ca = None
    if config.tls_client_ca:
        client_ca = _read_pem("--tls-client-ca", config.tls_client_ca, "CERTIFICATE")
        _check_certificates("--tls-client-ca", config.tls_client_ca, client_ca)
    return ServerTls(chain, key, client_ca)


def _read_pem(flag: str, path: str, label: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TlsFileError(f"{_setting(flag)}: cannot read {path!r}: {reason}") from exc
    if f"-----BEGIN {label}-----".encode() not in data and not (
        label == "PRIVATE KEY" and b" PRIVATE KEY-----" in data
    ):
        raise TlsFileError(
            f"{_setting(flag)}: {path!r} holds no PEM {label.lower()} "
            f"(expected a '-----BEGIN {label}-----' block)"
        )
    return data


def _check_certificates(flag: str, path: str, data: bytes) -> None:
    """Every certificate in a PEM file must parse (a truncated block is caught here)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(
            cadata=data.decode("ascii", errors="replace")
        )
    except (ssl.SSLError, ValueError) as exc:
        raise TlsFileError(f"{_setting(flag)}: {path!r} is not a valid PEM certificate") from exc
