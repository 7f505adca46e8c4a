"""The server's Prometheus metrics: every name and label in one place.

The gRPC metrics carry the names of go-grpc-prometheus (and so of Grafana's
standard gRPC dashboards); the ``registry_*`` ones are ours. Label values are
bounded by construction: methods come from the service descriptor
(registry_api/rpcs.py) or are "unknown", codes are gRPC's 17, the other labels
take the fixed values written here. Nothing a caller sends (a model name, a
token, a path) ever becomes a label value, since each new value is a new time
series kept for the life of the process.

Several processes (``serve --processes N``): the supervisor gives every child
the same empty directory in ``PROMETHEUS_MULTIPROC_DIR`` (supervisor.py);
prometheus_client then keeps each process's values in memory-mapped files
there, and a scrape of any process sums over all of them (`exposition`).
Gauges say how they combine: ``livesum`` (values of processes still running,
added up) for pools and streams, ``max`` for build info.

Cost: the interceptor (api/metrics.py) binds each method's label children
once, and what happens on every call (calls started and handled, durations,
pool waits, the hot lookups' timings) goes to per-thread tallies flushed
every second (tallies.py), not through prometheus_client's locked values;
bench/metrics_cost.py measures what is left on get-by-alias.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from registry_server.tallies import Tallies

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _State:
    """Whether this process collects the metrics that cost something on hot
    paths (the call interceptor, pool and statement timings): on when the
    server has a side port to show them (``--http-listen``), set by
    server.start()."""

    enabled = False


state = _State()

#: The hot paths' counts and timings (tallies.py): cheap per call, flushed
#: into the metrics below every second and before each scrape.
tallies = Tallies()

#: Seconds; from half a millisecond (a get-by-alias) to a minute (a large
#: upload), about three buckets per decade.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
#: Seconds waited for a pooled connection: mostly zero, seconds when exhausted.
POOL_WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds per statement: the hot lookups take a fraction of a millisecond.
STATEMENT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)

_GRPC = ("grpc_type", "grpc_service", "grpc_method")

grpc_started = Counter("grpc_server_started_total", "RPCs started on the server.", _GRPC)
grpc_handled = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, whatever their status.",
    (*_GRPC, "grpc_code"),
)
grpc_handling_seconds = Histogram(
    "grpc_server_handling_seconds",
    "Seconds from a call's start to its end, as seen by the server.",
    _GRPC,
    buckets=LATENCY_BUCKETS,
)
grpc_msg_received = Counter(
    "grpc_server_msg_received_total", "Messages received on streaming RPCs.", _GRPC
)
grpc_msg_sent = Counter("grpc_server_msg_sent_total", "Messages sent on streaming RPCs.", _GRPC)

POOLS = ("write", "read")
db_pool_size = Gauge(
    "registry_db_pool_size",
    "Connections a pool hands out at most (its size plus overflow).",
    ("pool",),
    multiprocess_mode="livesum",
)
db_pool_in_use = Gauge(
    "registry_db_pool_in_use",
    "Connections checked out of a pool now.",
    ("pool",),
    multiprocess_mode="livesum",
)
db_pool_wait_seconds = Histogram(
    "registry_db_pool_wait_seconds",
    "Seconds a call waited to check a connection out of a pool.",
    ("pool",),
    buckets=POOL_WAIT_BUCKETS,
)
db_statement_seconds = Histogram(
    "registry_db_statement_seconds",
    "Seconds the hot prepared lookups took, by statement.",
    ("statement",),
    buckets=STATEMENT_BUCKETS,
)
DIRECTIONS = ("upload", "download")
artifact_bytes = Counter(
    "registry_artifact_bytes_total",
    "Artifact bytes streamed through the server.",
    ("direction",),
)
watch_streams = Gauge(
    "registry_watch_streams",
    "WatchModelEvents streams open now.",
    multiprocess_mode="livesum",
)
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")
webhook_deliveries = Counter(
    "registry_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (retry: failed, tried again later; failed: given up).",
    ("outcome",),
)
AUTH_FAILURE_REASONS = ("missing", "malformed", "unknown", "expired", "revoked", "multiple")
auth_failures = Counter(
    "registry_auth_failures_total",
    "Calls refused as UNAUTHENTICATED, by reason.",
    ("reason",),
)
build_info = Gauge(
    "registry_build_info",
    "1, labelled with the server's version and the schema revision it expects.",
    ("version", "schema_revision"),
    multiprocess_mode="max",
)

# Bound once: the increments on hot paths then skip the label lookup.
_upload_bytes = artifact_bytes.labels(direction="upload")
_download_bytes = artifact_bytes.labels(direction="download")
for _pool in POOLS:
    db_pool_in_use.labels(pool=_pool)
    db_pool_size.labels(pool=_pool)
for _reason in AUTH_FAILURE_REASONS:
    auth_failures.labels(reason=_reason)
for _outcome in WEBHOOK_OUTCOMES:
    webhook_deliveries.labels(outcome=_outcome)


class _Pools:
    """The engines whose connection pools are read at each flush
    (registry_db_pool_size and _in_use): nothing per checkout. Engines, not
    pools: disposing of an engine gives it a new pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: dict[int, tuple[str, Any]] = {}

    def add(self, label: str, engine: Any) -> None:
        with self._lock:
            self._engines[id(engine)] = (label, engine)

    def remove(self, engine: Any) -> None:
        with self._lock:
            self._engines.pop(id(engine), None)

    def sample(self) -> None:
        with self._lock:
            engines = list(self._engines.values())
        for label in POOLS:
            mine = [engine.pool for name, engine in engines if name == label]
            db_pool_size.labels(pool=label).set(sum(_capacity(pool) for pool in mine))
            db_pool_in_use.labels(pool=label).set(sum(pool.checkedout() for pool in mine))


def _capacity(pool: Any) -> int:
    return int(pool.size()) + max(0, int(getattr(pool, "_max_overflow", 0)))


pools = _Pools()
tallies.before_flush(pools.sample)


def pool_wait_observer(label: str) -> Callable[[float], None]:
    """Observe a checkout's wait on pool `label` (a tally, see tallies.py)."""
    return tallies.histogram(db_pool_wait_seconds.labels(pool=label))


def statement_observer(statement: str) -> Callable[[float], None]:
    """Observe one run of the named hot lookup (a tally)."""
    return tallies.histogram(db_statement_seconds.labels(statement=statement))


def enable() -> None:
    """Collect the hot-path metrics in this process (server.start with a side port)."""
    if state.enabled:
        return
    state.enabled = True
    tallies.start_flushing()
    # A process that exits (a drained child of --processes) writes its last
    # second of counts to the shared files first.
    atexit.register(tallies.flush)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def count_auth_failure(reason: str) -> None:
    auth_failures.labels(reason=reason if reason in AUTH_FAILURE_REASONS else "unknown").inc()


def count_webhook_delivery(outcome: str) -> None:
    if outcome in WEBHOOK_OUTCOMES:
        webhook_deliveries.labels(outcome=outcome).inc()


def _counted(chunks: Iterable[bytes], inc: Callable[[float], None]) -> Iterator[bytes]:
    try:
        for chunk in chunks:
            inc(len(chunk))
            yield chunk
    finally:
        # A transfer ended early (cancelled call): the source's own cleanup
        # (an S3 response to release) runs now, as without this wrapper.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def counted_upload(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`chunks`, adding each one's length to the uploaded bytes."""
    return _counted(chunks, _upload_bytes.inc)


def counted_download(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`chunks`, adding each one's length to the downloaded bytes."""
    return _counted(chunks, _download_bytes.inc)


def set_build_info(version: str, schema_revision: str) -> None:
    build_info.labels(version=version, schema_revision=schema_revision).set(1)


class _ScrapeTimeGauge(Collector):
    """A gauge read when scraped (e.g. a count from the database), so it
    costs nothing between scrapes and is right in every process's answer."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float | None]) -> None:
        self.name = name
        self.documentation = documentation
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        value = self.read()
        if value is not None:
            yield GaugeMetricFamily(self.name, self.documentation, value=value)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


def webhook_pending_collector(count: Callable[[], float | None]) -> Collector:
    return _ScrapeTimeGauge(
        "registry_webhook_deliveries_pending",
        "Webhook deliveries waiting to be sent (read from the database when scraped).",
        count,
    )


class Exposition:
    """What /metrics answers: this process's registry, or with several
    processes the sum over all of them, plus the scrape-time collectors."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, extra: Iterable[Collector] = ()) -> None:
        self.extra = list(extra)

    def render(self) -> bytes:
        tallies.flush()  # this process's calls, exactly; others' as of their last flush
        registry: Any
        if multiprocess_dir() is not None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Default())
        for collector in self.extra:
            registry.register(collector)
        return generate_latest(registry)


class _Default(Collector):
    """The process-wide default registry as one collector, so a scrape
    registry can add its own collectors without registering them globally
    (two servers in one test process must not clash)."""

    def collect(self) -> Iterator[Any]:
        return iter(REGISTRY.collect())

    def describe(self) -> Iterator[Any]:
        return iter(())
