"""Our registry against MLflow's model registry, side by side, on the same PostgreSQL.

Each system gets its own throwaway database and runs as its own server process(es), as in
production: `registry-server serve` (gRPC), and `mlflow server` (REST over uvicorn) in two
setups, its default (4 uvicorn worker processes) and `--workers 1`. With several workers
uvicorn binds the listening socket itself, as `socket.socket(AF_INET)` whose protocol is 0,
and asyncio only sets TCP_NODELAY on accepted sockets whose protocol is IPPROTO_TCP; so
Nagle's algorithm stays on, which with the client's delayed ACKs adds about 40 ms to requests
on a kept-alive connection. That is what an MLflow user gets out of the box, so the default
setup is measured as it is and is the headline comparison, and `--workers 1` is shown beside
it.

The same operations run against each system, one (operation, concurrency) cell at a time,
the systems taking turns within a cell so that drift in the machine's load spreads over all
of them. Every cell runs `--warmup` seconds untimed, then `--seconds` timed; a call counts
when it completes inside the timed window. Load comes from `--client-processes` processes
(threads inside them), each worker with its own connection, opened before timing and kept
alive: one Python process driving 16 threads would measure its own GIL.

    create_model     create a registered model, unique name per call
    create_version   create a version of ONE model shared by all workers; afterwards the
                     version numbers must be exactly 1..N with N = acknowledged creates
    set_alias        move @champion over the versions of a 20-version model
    get_by_alias     read the version @champion points at
    resolve          resolve models:/name@champion to a location. Ours: one ResolveModelUri
                     call. MLflow has no server-side resolve; its client asks for the
                     version by alias, then for that version's download URI, so one MLflow
                     resolve is those 2 requests.
    get_version      read a version by name and number
    transition       move the next version to Production with archive_existing_versions,
                     every worker on one 20-version model; afterwards exactly one version
                     must be in Production
    search_versions  one page (100) of the versions of a model with 1,000 versions
    search_models    one page (100) of registered models matching name LIKE '<run>-like-01%'
                     among 1,000+ models

Fixtures are created through each system's own API before timing, then the database is
VACUUM ANALYZEd (fresh tables without planner statistics made MLflow's model search tens of
times slower, which no long-running deployment would see). What a cell creates stays: a faster
system creates more, and its later searches run over larger tables.

MLflow is driven over its REST API with `requests` and the JSON is decoded but not turned
into MLflow entities, so its client side costs less than MlflowClient's would. Ours is driven
the same way, as the issue asks: through the generated gRPC stub, the messages decoded but
not turned into RegistryClient's dataclasses (`--our-client client` measures RegistryClient
instead). The clients share the machine's two cores with the servers, so what a client
spends per call shows in both systems' throughput.

    .venv/bin/python bench/vs_mlflow.py                      # 10 s per cell, c1 and c16
    .venv/bin/python bench/vs_mlflow.py --seconds 2 --warmup 0.5 --json vs.json
    .venv/bin/python bench/vs_mlflow.py --ops resolve,transition --concurrency 16
    .venv/bin/python bench/vs_mlflow.py --no-mlflow          # ours only

After the servers stop, the same command moves a 256 MiB model through our server and
directly with the minio client (bench/artifact_transfer.py; `--artifacts-mib 0` skips it).

`REGISTRY_BENCH_DATABASE_URL` names an administrative database on the PostgreSQL server to
use (databases are created beside it and dropped afterwards); the default is postgres on
127.0.0.1:5432. With a local PostgreSQL the CPU the servers and their database backends used
is reported per call too: on a busy machine it is steadier than throughput.

The figures are printed, never judged. Exit status 1 means our server returned an error or
one of its correctness checks (gapless versions, one version in Production) failed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import grpc
import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_ADMIN_URL,
    analyze_database,
    cpu_delta,
    cpu_seconds,
    free_port,
    machine_info,
    percentile,
    postgres_backend_pids,
    postgres_sessions,
    print_table,
    process_tree,
    registry_server,
    throwaway_database,
    write_json,
)

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import NotFound, RegistryClient, RegistryError, error_from_rpc
from registry_server import migrate
from registry_server.config import parse_processes
from registry_server.store.database import make_engine

OPS = (
    "create_model",
    "create_version",
    "set_alias",
    "get_by_alias",
    "resolve",
    "get_version",
    "transition",
    "search_versions",
    "search_models",
)
#: Operations that work on a model of SMALL_VERSIONS versions.
SMALL_MODEL_OPS = ("set_alias", "get_by_alias", "resolve", "get_version", "transition")
SMALL_VERSIONS = 20
PAGE_SIZE = 100
ALIAS = "champion"
#: Seconds a single call may take before it counts as an error (both systems).
CALL_TIMEOUT = 30.0
#: Fewest workers that seed the fixtures.
SEED_WORKERS = 8
#: Distinct error messages kept per cell; the rest are only counted.
MAX_MESSAGES = 20
OURS = "ours"


# -- fixtures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixtures:
    """Names of everything a run creates. The run prefix keeps runs apart (and lets a
    database be reused); separate models per operation keep operations from disturbing
    each other's figures."""

    prefix: str
    search_size: int

    def created_model(self, concurrency: int, worker: int, n: int) -> str:
        return f"{self.prefix}-new-c{concurrency}-w{worker}-{n}"

    def version_model(self, concurrency: int) -> str:
        return f"{self.prefix}-cv-c{concurrency}"

    def small_model(self, op: str) -> str:
        return f"{self.prefix}-{op.replace('_', '-')}"

    @property
    def big_model(self) -> str:
        return f"{self.prefix}-big"

    def like_model(self, index: int) -> str:
        return f"{self.prefix}-like-{index:04d}"

    @property
    def versions_filter(self) -> str:
        return f"name = '{self.big_model}'"

    @property
    def models_filter(self) -> str:
        # like-0100 .. like-0199: 100 of the 1,000 seeded names.
        return f"name LIKE '{self.prefix}-like-01%'"

    def source(self, worker: int, n: int) -> str:
        return f"s3://bench-bucket/{self.prefix}/w{worker}/{n}"


# -- the two APIs behind one interface -------------------------------------------------------


class RegistryApi(Protocol):
    """The calls the benchmark makes, in terms both systems can answer."""

    def ping(self) -> None: ...
    def create_model(self, name: str) -> None: ...
    def create_version(self, model: str, source: str) -> int: ...
    def set_alias(self, model: str, alias: str, version: int) -> None: ...
    def get_by_alias(self, model: str, alias: str) -> int: ...
    def resolve(self, model: str, alias: str) -> str: ...
    def get_version(self, model: str, version: int) -> int: ...
    def transition(self, model: str, version: int) -> None: ...
    def search_versions(self, filter_string: str) -> int: ...
    def search_models(self, filter_string: str) -> int: ...
    def all_versions(self, model: str) -> list[tuple[int, str]]: ...
    def close(self) -> None: ...


class OursApi:
    """Our public client, one channel (and TCP connection) per instance.

    gRPC shares subchannels between channels with equal arguments in one process, which
    would put all of a process's workers on one connection; a local subchannel pool gives
    each worker its own, as each MLflow worker has its own HTTP connection.
    """

    def __init__(self, target: str, actor: str) -> None:
        self._client = RegistryClient(
            target,
            actor=actor,
            timeout=CALL_TIMEOUT,
            options=[("grpc.use_local_subchannel_pool", 1)],
        )

    def ping(self) -> None:
        with contextlib.suppress(NotFound):
            self._client.get_registered_model("bench-connection-check")

    def create_model(self, name: str) -> None:
        self._client.create_registered_model(name)

    def create_version(self, model: str, source: str) -> int:
        return self._client.create_model_version(model, source=source).version

    def set_alias(self, model: str, alias: str, version: int) -> None:
        self._client.set_registered_model_alias(model, alias, version)

    def get_by_alias(self, model: str, alias: str) -> int:
        return self._client.get_model_version_by_alias(model, alias).version

    def resolve(self, model: str, alias: str) -> str:
        return self._client.resolve(f"models:/{model}@{alias}").model_version.source

    def get_version(self, model: str, version: int) -> int:
        return self._client.get_model_version(model, version).version

    def transition(self, model: str, version: int) -> None:
        self._client.transition_model_version_stage(
            model, version, "Production", archive_existing_versions=True
        )

    def search_versions(self, filter_string: str) -> int:
        return len(self._client.search_model_versions(filter_string, PAGE_SIZE))

    def search_models(self, filter_string: str) -> int:
        return len(self._client.search_registered_models(filter_string, PAGE_SIZE))

    def all_versions(self, model: str) -> list[tuple[int, str]]:
        return [
            (v.version, v.current_stage)
            for v in self._client.iter_model_versions(f"name = '{model}'", page_size=PAGE_SIZE)
        ]

    def close(self) -> None:
        self._client.close()


class OursStubApi(OursApi):
    """The timed calls through the generated stub on the same channel: messages decoded, not
    turned into RegistryClient's types, which is as far as MlflowApi takes MLflow's JSON.
    Setup and checks still go through RegistryClient. Requests are those RegistryClient
    sends (a new version carries an idempotency key, as every version it creates does)."""

    def __init__(self, target: str, actor: str) -> None:
        super().__init__(target, actor)
        self._stub = registry_pb2_grpc.ModelRegistryStub(self._client.channel)
        self._metadata = self._client.metadata

    def _rpc(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=CALL_TIMEOUT, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc

    def create_model(self, name: str) -> None:
        self._rpc("CreateRegisteredModel", pb.CreateRegisteredModelRequest(name=name))

    def create_version(self, model: str, source: str) -> int:
        request = pb.CreateModelVersionRequest(
            name=model, source=source, idempotency_key=uuid.uuid4().hex
        )
        return int(self._rpc("CreateModelVersion", request).model_version.version)

    def set_alias(self, model: str, alias: str, version: int) -> None:
        request = pb.SetRegisteredModelAliasRequest(name=model, alias=alias, version=version)
        self._rpc("SetRegisteredModelAlias", request)

    def get_by_alias(self, model: str, alias: str) -> int:
        request = pb.GetModelVersionByAliasRequest(name=model, alias=alias)
        return int(self._rpc("GetModelVersionByAlias", request).model_version.version)

    def resolve(self, model: str, alias: str) -> str:
        request = pb.ResolveModelUriRequest(uri=f"models:/{model}@{alias}")
        return str(self._rpc("ResolveModelUri", request).model_version.source)

    def get_version(self, model: str, version: int) -> int:
        request = pb.GetModelVersionRequest(name=model, version=version)
        return int(self._rpc("GetModelVersion", request).model_version.version)

    def transition(self, model: str, version: int) -> None:
        request = pb.TransitionModelVersionStageRequest(
            name=model, version=version, stage="Production", archive_existing_versions=True
        )
        self._rpc("TransitionModelVersionStage", request)

    def search_versions(self, filter_string: str) -> int:
        request = pb.SearchModelVersionsRequest(filter=filter_string, page_size=PAGE_SIZE)
        return len(self._rpc("SearchModelVersions", request).model_versions)

    def search_models(self, filter_string: str) -> int:
        request = pb.SearchRegisteredModelsRequest(filter=filter_string, page_size=PAGE_SIZE)
        return len(self._rpc("SearchRegisteredModels", request).registered_models)


class MlflowCallError(Exception):
    """A non-200 answer from MLflow's REST API, with its error code and message."""


class MlflowApi:
    """MLflow's REST API (the paths of its ModelRegistryService, under /api/2.0/mlflow)
    through one kept-alive `requests.Session`."""

    def __init__(self, base_url: str) -> None:
        self._base = base_url
        self._api = f"{base_url}/api/2.0/mlflow"
        self._session = requests.Session()

    def _answer(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code != 200:
            try:
                body = response.json()
                detail = f"{body.get('error_code', '?')}: {body.get('message', '')}"
            except ValueError:
                detail = response.text
            raise MlflowCallError(f"HTTP {response.status_code} {detail}"[:300])
        result: dict[str, Any] = response.json()
        return result

    def _get(self, path: str, params: Mapping[str, str | int]) -> dict[str, Any]:
        return self._answer(
            self._session.get(f"{self._api}/{path}", params=params, timeout=CALL_TIMEOUT)
        )

    def _post(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        return self._answer(
            self._session.post(f"{self._api}/{path}", json=body, timeout=CALL_TIMEOUT)
        )

    def ping(self) -> None:
        self._session.get(f"{self._base}/health", timeout=CALL_TIMEOUT).raise_for_status()

    def create_model(self, name: str) -> None:
        self._post("registered-models/create", {"name": name})

    def create_version(self, model: str, source: str) -> int:
        answer = self._post("model-versions/create", {"name": model, "source": source})
        return int(answer["model_version"]["version"])

    def set_alias(self, model: str, alias: str, version: int) -> None:
        self._post(
            "registered-models/alias", {"name": model, "alias": alias, "version": str(version)}
        )

    def get_by_alias(self, model: str, alias: str) -> int:
        answer = self._get("registered-models/alias", {"name": model, "alias": alias})
        return int(answer["model_version"]["version"])

    def resolve(self, model: str, alias: str) -> str:
        # What MLflow's client does for models:/name@alias: two round trips.
        version = self.get_by_alias(model, alias)
        answer = self._get("model-versions/get-download-uri", {"name": model, "version": version})
        return str(answer["artifact_uri"])

    def get_version(self, model: str, version: int) -> int:
        answer = self._get("model-versions/get", {"name": model, "version": version})
        return int(answer["model_version"]["version"])

    def transition(self, model: str, version: int) -> None:
        self._post(
            "model-versions/transition-stage",
            {
                "name": model,
                "version": str(version),
                "stage": "Production",
                "archive_existing_versions": True,
            },
        )

    def search_versions(self, filter_string: str) -> int:
        answer = self._get(
            "model-versions/search", {"filter": filter_string, "max_results": PAGE_SIZE}
        )
        return len(answer.get("model_versions", []))

    def search_models(self, filter_string: str) -> int:
        answer = self._get(
            "registered-models/search", {"filter": filter_string, "max_results": PAGE_SIZE}
        )
        return len(answer.get("registered_models", []))

    def all_versions(self, model: str) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        token = ""
        while True:
            params: dict[str, str | int] = {"filter": f"name = '{model}'", "max_results": 1000}
            if token:
                params["page_token"] = token
            answer = self._get("model-versions/search", params)
            found.extend(
                (int(v["version"]), v.get("current_stage", ""))
                for v in answer.get("model_versions", [])
            )
            token = answer.get("next_page_token", "")
            if not token:
                return found

    def close(self) -> None:
        self._session.close()


@dataclass(frozen=True)
class SystemTarget:
    """One system under test, as a client process needs to reach it."""

    label: str
    kind: str  # "ours" or "mlflow"
    address: str  # host:port for ours, base URL for MLflow
    description: str
    client: str = ""  # ours: "stub" (the generated stub) or "client" (RegistryClient)

    def connect(self, actor: str) -> RegistryApi:
        if self.kind == OURS:
            api = OursApi if self.client == "client" else OursStubApi
            return api(self.address, actor)
        return MlflowApi(self.address)


def describe_error(exc: BaseException) -> str:
    """A one-line message that says which system-level failure happened."""
    if isinstance(exc, RegistryError | MlflowCallError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


# -- client processes ----------------------------------------------------------------------


@dataclass
class CellPart:
    """What one worker (or, merged, one process or a whole cell) measured."""

    latencies: list[float] = field(default_factory=list)  # calls completed in the window
    errors: int = 0  # failed calls among them
    warmup_calls: int = 0
    warmup_errors: int = 0
    late_calls: int = 0  # completed after the window closed; not counted
    late_errors: int = 0
    acknowledged: int = 0  # successful calls in total (warm-up and late ones included)
    messages: Counter[str] = field(default_factory=Counter)

    def add(self, other: CellPart) -> None:
        self.latencies.extend(other.latencies)
        self.errors += other.errors
        self.warmup_calls += other.warmup_calls
        self.warmup_errors += other.warmup_errors
        self.late_calls += other.late_calls
        self.late_errors += other.late_errors
        self.acknowledged += other.acknowledged
        for message, count in other.messages.items():
            if message in self.messages or len(self.messages) < MAX_MESSAGES:
                self.messages[message] += count


@dataclass(frozen=True)
class RunCommand:
    """Run `op` against `system` from every worker: from `start_at` (warm-up) until `end`,
    timing calls that complete in [begin, end]. The times are `time.monotonic()` values,
    which on Linux share one clock across processes, so all workers start together."""

    system: str
    op: str
    concurrency: int
    total_workers: int
    fixtures: Fixtures
    start_at: float
    begin: float
    end: float


@dataclass(frozen=True)
class SeedCommand:
    """Create these ("model" | "version", name) fixtures, spread over the workers."""

    system: str
    tasks: tuple[tuple[str, str], ...]
    fixtures: Fixtures
    total_workers: int


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _op_call(api: RegistryApi, cmd: RunCommand, worker: int) -> Callable[[int], object]:
    """The n-th call of `cmd.op` by `worker`, as a function of n."""
    fx = cmd.fixtures
    total = cmd.total_workers

    def rotating(n: int) -> int:
        # Workers interleave, so successive calls across all workers take successive versions.
        return (n * total + worker) % SMALL_VERSIONS + 1

    match cmd.op:
        case "create_model":
            return lambda n: api.create_model(fx.created_model(cmd.concurrency, worker, n))
        case "create_version":
            model = fx.version_model(cmd.concurrency)
            return lambda n: api.create_version(model, fx.source(worker, n))
        case "set_alias":
            model = fx.small_model("set_alias")
            return lambda n: api.set_alias(model, ALIAS, rotating(n))
        case "get_by_alias":
            model = fx.small_model("get_by_alias")
            return lambda n: api.get_by_alias(model, ALIAS)
        case "resolve":
            model = fx.small_model("resolve")
            return lambda n: api.resolve(model, ALIAS)
        case "get_version":
            model = fx.small_model("get_version")
            return lambda n: api.get_version(model, rotating(n))
        case "transition":
            model = fx.small_model("transition")
            return lambda n: api.transition(model, rotating(n))
        case "search_versions":
            return lambda n: api.search_versions(fx.versions_filter)
        case "search_models":
            return lambda n: api.search_models(fx.models_filter)
    raise ValueError(f"unknown operation {cmd.op!r}")


def _drive(call: Callable[[int], object], cmd: RunCommand) -> CellPart:
    """Call back to back from `start_at` until `end`; sort each call by when it completed."""
    part = CellPart()
    _sleep_until(cmd.start_at)
    n = 0
    while True:
        started = time.monotonic()
        if started >= cmd.end:
            return part
        error: str | None = None
        try:
            call(n)
        except Exception as exc:
            error = describe_error(exc)
        finished = time.monotonic()
        n += 1
        if error is None:
            part.acknowledged += 1
        elif error in part.messages or len(part.messages) < MAX_MESSAGES:
            part.messages[error] += 1
        failed = int(error is not None)
        if finished < cmd.begin:
            part.warmup_calls += 1
            part.warmup_errors += failed
        elif finished <= cmd.end:
            part.latencies.append(finished - started)
            part.errors += failed
        else:
            part.late_calls += 1
            part.late_errors += failed


def _seed(api: RegistryApi, tasks: Sequence[tuple[str, str]], fx: Fixtures) -> CellPart:
    """Create fixtures, retrying a failed call twice. A model that "already exists" on a
    retry was created by the attempt whose answer was lost, so it counts as done."""
    part = CellPart()
    for index, (kind, name) in enumerate(tasks):
        for attempt in range(3):
            try:
                if kind == "model":
                    api.create_model(name)
                else:
                    api.create_version(name, fx.source(-1, index))
            except Exception as exc:
                message = describe_error(exc)
                if kind == "model" and attempt > 0 and "exist" in message.lower():
                    part.acknowledged += 1
                    break
                part.errors += 1
                if message in part.messages or len(part.messages) < MAX_MESSAGES:
                    part.messages[message] += 1
                continue
            part.acknowledged += 1
            break
    return part


def _run_job(api: RegistryApi, cmd: RunCommand, worker: int) -> CellPart:
    return _drive(_op_call(api, cmd, worker), cmd)


def _in_threads(jobs: Sequence[Callable[[], CellPart]]) -> CellPart:
    """Run each job in its own thread and merge what they measured."""
    parts: list[CellPart | BaseException] = [CellPart() for _ in jobs]

    def run(index: int) -> None:
        try:
            parts[index] = jobs[index]()
        except BaseException as exc:
            parts[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = CellPart()
    for part in parts:
        if isinstance(part, BaseException):
            raise part
        merged.add(part)
    return merged


def client_process(
    index: int,
    workers: Sequence[int],
    targets: Sequence[SystemTarget],
    commands: multiprocessing.Queue[RunCommand | SeedCommand | None],
    results: multiprocessing.Queue[tuple[str, int, object]],
) -> None:
    """Body of one load-generating process: one connection per (worker, system), opened
    now and kept for the whole run, then commands until None."""
    # The parent owns Ctrl-C: it tells these processes to stop, or terminates them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    apis: dict[int, dict[str, RegistryApi]] = {}
    try:
        for worker in workers:
            apis[worker] = {t.label: t.connect(f"bench-w{worker}") for t in targets}
            for api in apis[worker].values():
                api.ping()
        results.put(("ready", index, None))
        while (cmd := commands.get()) is not None:
            if isinstance(cmd, RunCommand):
                jobs = [functools.partial(_run_job, apis[w][cmd.system], cmd, w) for w in workers]
                results.put(("run", index, _in_threads(jobs)))
            else:
                jobs = [
                    functools.partial(
                        _seed, apis[w][cmd.system], cmd.tasks[w :: cmd.total_workers], cmd.fixtures
                    )
                    for w in workers
                ]
                results.put(("seed", index, _in_threads(jobs)))
    except Exception:
        results.put(("failed", index, traceback.format_exc()))
    finally:
        for per_system in apis.values():
            for api in per_system.values():
                with contextlib.suppress(Exception):
                    api.close()


class ClientPool:
    """`processes` spawned processes holding `concurrency` workers between them.

    Spawned, not forked: gRPC's threads and channels do not survive a fork. The processes
    live for the whole run so connections stay warm between cells.
    """

    def __init__(self, concurrency: int, processes: int, targets: Sequence[SystemTarget]) -> None:
        self.concurrency = concurrency
        context = multiprocessing.get_context("spawn")
        self._results: multiprocessing.Queue[tuple[str, int, object]] = context.Queue()
        self._commands: list[multiprocessing.Queue[RunCommand | SeedCommand | None]] = []
        self._processes: list[SpawnProcess] = []
        per_process = [
            list(range(concurrency))[i::processes] for i in range(min(processes, concurrency))
        ]
        for index, workers in enumerate(per_process):
            commands: multiprocessing.Queue[RunCommand | SeedCommand | None] = context.Queue()
            process = context.Process(
                target=client_process,
                args=(index, workers, list(targets), commands, self._results),
                name=f"bench-client-c{concurrency}-{index}",
                daemon=True,
            )
            process.start()
            self._commands.append(commands)
            self._processes.append(process)
        try:
            self._collect("ready", time.monotonic() + 180)
        except BaseException:
            self.close()
            raise

    @property
    def processes(self) -> int:
        return len(self._processes)

    def _collect(self, kind: str, deadline: float) -> list[CellPart]:
        parts: list[CellPart] = []
        while len(parts) < len(self._processes):
            try:
                got, index, payload = self._results.get(timeout=1)
            except queue.Empty:
                dead = [p.name for p in self._processes if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"client processes died: {', '.join(dead)}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"client processes did not answer {kind!r} in time"
                    ) from None
                continue
            if got == "failed":
                raise RuntimeError(f"client process {index} failed:\n{payload}")
            if got != kind:
                raise RuntimeError(f"client process {index} answered {got!r}, not {kind!r}")
            if isinstance(payload, CellPart):
                parts.append(payload)
            else:
                parts.append(CellPart())
        return parts

    def send(self, command: RunCommand | SeedCommand) -> None:
        for commands in self._commands:
            commands.put(command)

    def collect(self, kind: str, deadline: float) -> CellPart:
        merged = CellPart()
        for part in self._collect(kind, deadline):
            merged.add(part)
        return merged

    def close(self) -> None:
        for commands in self._commands:
            with contextlib.suppress(Exception):
                commands.put(None)
        # A process in the middle of a cell (Ctrl-C) would finish it first: not worth waiting.
        deadline = time.monotonic() + 5
        for process in self._processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


@contextlib.contextmanager
def client_pool(
    concurrency: int, processes: int, targets: Sequence[SystemTarget]
) -> Iterator[ClientPool]:
    pool = ClientPool(concurrency, processes, targets)
    try:
        yield pool
    finally:
        pool.close()


# -- MLflow's server -----------------------------------------------------------------------


class MlflowServer:
    """`mlflow server` on a free loopback port, in a session of its own.

    Its own session keeps the terminal's Ctrl-C from reaching it before we are done with it,
    and makes its whole tree (the CLI, uvicorn and its workers, the job runner and its huey
    consumers) one process group that `stop` can end together.
    """

    def __init__(self, label: str, database_url: str, folder: Path, workers: int | None) -> None:
        self.label = label
        self.database_url = database_url
        self.folder = folder
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "mlflow.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        (self.folder / "artifacts").mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.database_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--default-artifact-root",
            str(self.folder / "artifacts"),
        ]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        # MLFLOW_* in our environment (MLFLOW_WORKERS, a tracking URI) would change the setup.
        env = {
            k: v for k, v in os.environ.items() if not k.upper().startswith(("MLFLOW_", "_MLFLOW_"))
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _log_tail(self) -> str:
        return self._log()[-4000:]

    def wait_ready(self, timeout: float = 300) -> None:
        """Until /health answers 200 and every uvicorn worker has finished starting: /health
        is answered by whichever worker is up first, and a worker still importing MLflow
        when timing starts would make the first cell measure its start-up."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        workers = self.workers or 4
        with requests.Session() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.label} exited with {self.process.returncode}:\n{self._log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.label} not ready after {timeout:.0f} s:\n{self._log_tail()}"
                    )
                started = self._log().count("Application startup complete")
                healthy = False
                with contextlib.suppress(requests.RequestException):
                    healthy = session.get(f"{self.url}/health", timeout=2).status_code == 200
                if healthy and started >= workers:
                    return
                time.sleep(0.5)

    def _group_members(self) -> list[int]:
        return process_tree(self.pid) if self.process else []

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL for whatever is left after 15 s, then
        remove the job queue folder MLflow leaves behind in /dev/shm."""
        if self.process is None:
            return
        leftovers = self._huey_folders()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self._group_alive():
            time.sleep(0.2)
        if self._group_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for folder in leftovers:
            shutil.rmtree(folder, ignore_errors=True)
        self.process = None

    def _group_alive(self) -> bool:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def _huey_folders(self) -> list[Path]:
        """The folders MLflow's job runner made with mkdtemp, read from its processes'
        environment (it does not remove them when it stops)."""
        found: set[Path] = set()
        for pid in self._group_members():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for entry in environ:
                if entry.startswith(b"_MLFLOW_HUEY_STORAGE_PATH="):
                    path = Path(entry.split(b"=", 1)[1].decode(errors="replace"))
                    if path.name.startswith("tmp") and path.parent in (
                        Path("/dev/shm"),
                        Path(tempfile.gettempdir()),
                    ):
                        found.add(path)
        return sorted(found)


@contextlib.contextmanager
def mlflow_server(
    label: str, database_url: str, folder: Path, workers: int | None
) -> Iterator[MlflowServer]:
    """Start (without waiting for it: MLflow takes long to start) and always stop."""
    server = MlflowServer(label, database_url, folder, workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def stop_all(servers: Sequence[MlflowServer]) -> None:
    """Stop the MLflow servers in parallel: each takes several seconds to wind down."""
    threads = [threading.Thread(target=server.stop) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- measuring -----------------------------------------------------------------------------


@dataclass
class System:
    """A system under test as the parent sees it: how workers reach it, which processes
    and database backends are its own (for CPU accounting), and a connection of the
    parent's for seeding and checks."""

    target: SystemTarget
    root_pid: int
    database_url: str
    api: RegistryApi

    @property
    def database(self) -> str:
        return sa.make_url(self.database_url).database or ""

    @property
    def label(self) -> str:
        return self.target.label


@dataclass(frozen=True)
class CpuSample:
    server: dict[int, float]
    database: dict[int, float] | None
    sessions: int | None


class CpuMeter:
    """CPU used by a system's process tree and by its PostgreSQL backends (Linux, local
    PostgreSQL; database figures are None when its backends cannot be read).

    Backends that connect and exit between two samples are not seen, so the database
    figure is a lower bound for a system that opens connections per request; the number
    of sessions opened in between is sampled too, to show when that happens.
    """

    def __init__(self, admin: sa.Engine) -> None:
        self._admin = admin

    def sample(self, system: System) -> CpuSample:
        server = cpu_seconds(process_tree(system.root_pid))
        database: dict[int, float] | None = None
        with contextlib.suppress(Exception):
            database = cpu_seconds(postgres_backend_pids(self._admin, system.database)) or None
        return CpuSample(server, database, postgres_sessions(self._admin, system.database))


def wait_until_idle(
    root_pids: Sequence[int], *, cores: float = 0.1, quiet_for: float = 3.0, timeout: float = 240
) -> float | None:
    """Wait until the servers' process trees use under `cores` CPUs for `quiet_for` seconds.

    `mlflow server` keeps starting helpers (a job runner and seven huey consumers, each
    importing MLflow) after it answers /health; on a small machine that takes tens of
    seconds of CPU, which would otherwise land on whatever is measured first.
    Returns the seconds waited, or None on timeout.
    """
    started = time.monotonic()
    quiet_since = started
    before = cpu_seconds([p for root in root_pids for p in process_tree(root)])
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        after = cpu_seconds([p for root in root_pids for p in process_tree(root)])
        if cpu_delta(before, after) > cores * 0.5:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_for:
            return time.monotonic() - started
        before = after
    return None


@dataclass
class CellResult:
    """The figures of one (operation, concurrency, system) cell."""

    op: str
    concurrency: int
    system: str
    seconds: float
    calls: int  # completed in the timed window, failed ones included
    ok: int
    errors: int  # failed calls in the timed window
    warmup_calls: int
    warmup_errors: int
    late_calls: int
    late_errors: int
    acknowledged: int
    ops_per_s: float  # successful calls per second of the window
    p50_ms: float | None  # None: no call completed inside the window
    p99_ms: float | None
    mean_ms: float | None
    server_cpu_s: float | None
    db_cpu_s: float | None
    db_connections: int | None  # backends of the system's database at the end of the window
    db_sessions_opened: int | None  # connections opened during the window
    error_messages: list[tuple[str, int]]

    @property
    def all_errors(self) -> int:
        return self.errors + self.warmup_errors + self.late_errors

    def cpu_ms_per_call(self, which: str) -> float | None:
        used = self.server_cpu_s if which == "server" else self.db_cpu_s
        if used is None or not self.ok:
            return None
        return used / self.ok * 1000


def run_cell(
    pool: ClientPool,
    system: System,
    op: str,
    fixtures: Fixtures,
    *,
    warmup: float,
    seconds: float,
    meter: CpuMeter,
) -> CellResult:
    """One cell: every worker of `pool` calls `op` on `system`, all starting together."""
    start_at = time.monotonic() + 0.3  # time for the command to reach every process
    begin = start_at + warmup
    end = begin + seconds
    pool.send(
        RunCommand(
            system=system.label,
            op=op,
            concurrency=pool.concurrency,
            total_workers=pool.concurrency,
            fixtures=fixtures,
            start_at=start_at,
            begin=begin,
            end=end,
        )
    )
    _sleep_until(begin)
    before = meter.sample(system)
    _sleep_until(end)
    after = meter.sample(system)
    part = pool.collect("run", end + CALL_TIMEOUT + 60)
    latencies = part.latencies
    calls = len(latencies)
    ok = calls - part.errors
    db_cpu = None
    if before.database is not None and after.database is not None:
        db_cpu = cpu_delta(before.database, after.database)
    opened = None
    if before.sessions is not None and after.sessions is not None:
        opened = after.sessions - before.sessions
    return CellResult(
        op=op,
        concurrency=pool.concurrency,
        system=system.label,
        seconds=seconds,
        calls=calls,
        ok=ok,
        errors=part.errors,
        warmup_calls=part.warmup_calls,
        warmup_errors=part.warmup_errors,
        late_calls=part.late_calls,
        late_errors=part.late_errors,
        acknowledged=part.acknowledged,
        ops_per_s=ok / seconds,
        p50_ms=statistics.median(latencies) * 1000 if latencies else None,
        p99_ms=percentile(latencies, 0.99) * 1000 if latencies else None,
        mean_ms=statistics.fmean(latencies) * 1000 if latencies else None,
        server_cpu_s=cpu_delta(before.server, after.server) if after.server else None,
        db_cpu_s=db_cpu,
        db_connections=None if after.database is None else len(after.database),
        db_sessions_opened=opened,
        error_messages=part.messages.most_common(),
    )


# -- fixtures and checks -------------------------------------------------------------------


@dataclass
class SeedReport:
    """How seeding one system went: its time is a figure of its own (bulk writes)."""

    system: str
    seconds: float
    created: int
    errors: int
    error_messages: list[tuple[str, int]]
    topped_up: int  # versions added one by one afterwards, for failed bulk calls
    analyze_seconds: float
    search_rows: dict[str, int]


def seed(
    pool: ClientPool,
    system: System,
    fx: Fixtures,
    ops: Sequence[str],
    concurrencies: Sequence[int],
) -> SeedReport:
    """Create the models and versions the operations need, through the system's own API
    and with all the pool's workers; versions a failed call left missing are then added
    one by one, so every system starts its cells from the same fixtures. Then the
    database is analysed, as a production database long would have been."""
    started = time.monotonic()
    models: list[str] = []
    if "create_version" in ops:
        models += [fx.version_model(c) for c in concurrencies]
    small = [op for op in SMALL_MODEL_OPS if op in ops]
    models += [fx.small_model(op) for op in small]
    wanted: dict[str, int] = {fx.small_model(op): SMALL_VERSIONS for op in small}
    if "search_versions" in ops:
        models.append(fx.big_model)
        wanted[fx.big_model] = fx.search_size
    if "search_models" in ops:
        models += [fx.like_model(i) for i in range(fx.search_size)]
    deadline = time.monotonic() + 1800
    part = CellPart()
    if models:
        pool.send(
            SeedCommand(system.label, tuple(("model", m) for m in models), fx, pool.concurrency)
        )
        part.add(pool.collect("seed", deadline))
    # Round-robin over the models, so that the workers spread over all of them.
    versions = [(model, n) for n in range(max(wanted.values(), default=0)) for model in wanted]
    tasks = tuple(("version", model) for model, n in versions if n < wanted[model])
    if tasks:
        pool.send(SeedCommand(system.label, tasks, fx, pool.concurrency))
        part.add(pool.collect("seed", deadline))
    topped_up = 0
    for model, count in wanted.items():
        have = len(system.api.all_versions(model))
        for n in range(have, count):
            system.api.create_version(model, fx.source(-2, n))
            topped_up += 1
    for op in ("set_alias", "get_by_alias", "resolve"):
        if op in ops:
            system.api.set_alias(fx.small_model(op), ALIAS, SMALL_VERSIONS)
    analyzing = time.monotonic()
    analyze_database(system.database_url)
    analyzed_in = time.monotonic() - analyzing
    rows: dict[str, int] = {}
    if "search_versions" in ops:
        rows["search_versions"] = system.api.search_versions(fx.versions_filter)
    if "search_models" in ops:
        rows["search_models"] = system.api.search_models(fx.models_filter)
    return SeedReport(
        system=system.label,
        seconds=time.monotonic() - started,
        created=part.acknowledged,
        errors=part.errors,
        error_messages=part.messages.most_common(5),
        topped_up=topped_up,
        analyze_seconds=analyzed_in,
        search_rows=rows,
    )


def check_versions(
    system: System, fx: Fixtures, concurrency: int, acknowledged: int
) -> dict[str, Any]:
    """Every acknowledged create got its own number, and the numbers are 1..N."""
    numbers = sorted(v for v, _ in system.api.all_versions(fx.version_model(concurrency)))
    gapless = numbers == list(range(1, len(numbers) + 1))
    return {
        "check": "create_version",
        "system": system.label,
        "concurrency": concurrency,
        "gapless": gapless,
        "versions": len(numbers),
        "distinct": len(set(numbers)),
        "max_version": numbers[-1] if numbers else 0,
        "acknowledged": acknowledged,
        "ok": gapless and len(numbers) == acknowledged,
    }


def check_production(system: System, fx: Fixtures, concurrency: int) -> dict[str, Any]:
    """After promotions with archive_existing_versions, exactly one version is in
    Production: the last one promoted (none would mean a promotion archived the holder
    and did not move its own version)."""
    stages = Counter(stage for _, stage in system.api.all_versions(fx.small_model("transition")))
    in_production = stages.get("Production", 0)
    return {
        "check": "transition",
        "system": system.label,
        "concurrency": concurrency,
        "in_production": in_production,
        "stages": dict(stages),
        "ok": in_production == 1,
    }


def check_after(system: System, fx: Fixtures, cell: CellResult) -> dict[str, Any] | None:
    """The correctness check that follows a cell, if its operation has one. A check that
    could not be made (the server is gone) has failed, but the run goes on to report
    what it measured."""
    try:
        if cell.op == "create_version":
            return check_versions(system, fx, cell.concurrency, cell.acknowledged)
        if cell.op == "transition":
            return check_production(system, fx, cell.concurrency)
    except Exception as exc:
        return {
            "check": cell.op,
            "system": system.label,
            "concurrency": cell.concurrency,
            "ok": False,
            "error": describe_error(exc),
        }
    return None


# -- report --------------------------------------------------------------------------------


def _ratio(ours: CellResult | None, other: CellResult | None) -> str:
    if ours is None or other is None:
        return "-"
    if other.ops_per_s == 0:
        return "inf" if ours.ops_per_s else "-"
    return f"{ours.ops_per_s / other.ops_per_s:.2f}x"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def print_report(
    cells: Sequence[CellResult],
    checks: Sequence[dict[str, Any]],
    labels: Sequence[str],
    ops: Sequence[str],
    concurrencies: Sequence[int],
) -> None:
    by_key = {(c.op, c.concurrency, c.system): c for c in cells}
    others = [label for label in labels if label != OURS]
    headers = ["op", "c"]
    for label in labels:
        headers += [f"{label} op/s", "p50 ms", "p99 ms", "err"]
    headers += [f"ours/{label}" for label in others]
    rows: list[list[object]] = []
    cpu_rows: list[list[object]] = []
    for op in ops:
        for c in concurrencies:
            row: list[object] = [op, c]
            cpu_row: list[object] = [op, c]
            for label in labels:
                cell = by_key.get((op, c, label))
                if cell is None:
                    row += ["-"] * 4
                    cpu_row += ["-"] * 3
                    continue
                row += [f"{cell.ops_per_s:,.1f}", _ms(cell.p50_ms), _ms(cell.p99_ms)]
                row.append(cell.all_errors)
                cpu_row += [_ms(cell.cpu_ms_per_call("server")), _ms(cell.cpu_ms_per_call("db"))]
                cpu_row.append("-" if cell.db_sessions_opened is None else cell.db_sessions_opened)
            ours = by_key.get((op, c, OURS))
            row += [_ratio(ours, by_key.get((op, c, label))) for label in others]
            rows.append(row)
            cpu_rows.append(cpu_row)
    print()
    print_table(headers, rows)
    print()
    print(
        "CPU per successful call, ms: the server's processes / its PostgreSQL backends"
        " (those alive at the end of the window),\nand database connections opened during"
        " the window (their backends' CPU is missing from db)"
    )
    cpu_headers = ["op", "c"]
    for label in labels:
        cpu_headers += [f"{label} server", "db", "conns"]
    print_table(cpu_headers, cpu_rows)
    errored = [c for c in cells if c.all_errors]
    if errored:
        print("\nErrors (first distinct messages per cell):")
        for cell in errored:
            print(f"  {cell.op} c{cell.concurrency} {cell.system}: {cell.all_errors} errors")
            for message, count in cell.error_messages[:3]:
                print(f"    {count} x {message}")
    if checks:
        print("\nCorrectness checks:")
    for check in checks:
        status = "OK" if check["ok"] else "FAILED"
        where = f"  {check['check']} c{check['concurrency']} {check['system']}:"
        if "error" in check:
            print(f"{where} could not check: {check['error']}: {status}")
        elif check["check"] == "create_version":
            print(
                f"{where} gapless: {str(check['gapless']).lower()}, {check['versions']} versions"
                f" (max {check['max_version']}) for {check['acknowledged']} acknowledged"
                f" creates: {status}"
            )
        else:
            print(
                f"{where} {check['in_production']} version(s) in Production"
                f" (stages {check['stages']}): {status}"
            )


# -- main ----------------------------------------------------------------------------------


def _parse_list(text: str, parse: Callable[[str], Any], what: str) -> list[Any]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"no {what} given")
    try:
        return [parse(item) for item in items]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad {what} in {text!r}: {exc}") from None


def _op_name(text: str) -> str:
    if text not in OPS:
        raise ValueError(f"{text!r} is not one of {', '.join(OPS)}")
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{value} is not positive")
    return value


def _mlflow_workers(text: str) -> int | None:
    return None if text == "default" else _positive_int(text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Our registry vs MLflow's model registry, side by side.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per cell (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds first (2)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--ops",
        type=lambda s: _parse_list(s, _op_name, "operation"),
        default=list(OPS),
        help=f"comma-separated operations (default all: {','.join(OPS)})",
    )
    parser.add_argument(
        "--concurrency",
        type=lambda s: _parse_list(s, _positive_int, "concurrency"),
        default=[1, 16],
        help="comma-separated numbers of concurrent workers (1,16)",
    )
    parser.add_argument(
        "--mlflow-workers",
        type=lambda s: _parse_list(s, _mlflow_workers, "MLflow workers"),
        default=[None, 1],
        help="MLflow setups: 'default' (no --workers: 4) and/or worker counts (default,1)",
    )
    parser.add_argument(
        "--client-processes",
        type=_positive_int,
        default=4,
        help="at most this many load-generating processes per concurrency (4)",
    )
    parser.add_argument(
        "--search-size",
        type=_positive_int,
        default=1000,
        help="models seeded for search_models (a tenth match) and versions of the model"
        " search_versions reads (1000)",
    )
    parser.add_argument(
        "--processes",
        default="auto",
        help="our server's --processes (auto: one per core, as a production deployment on "
        "this machine would run it; MLflow's default runs 4 worker processes)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="our server's threads per process (default 16 in all, split over the processes,"
        " which also bounds its PostgreSQL connections: MLflow's setups need many of the"
        " 100 a default PostgreSQL allows)",
    )
    parser.add_argument(
        "--artifacts-mib",
        type=int,
        default=256,
        help="then move a model of this many MiB through our server and directly with the"
        " minio client (bench/artifact_transfer.py); 0 skips it (256)",
    )
    parser.add_argument(
        "--our-client",
        choices=("stub", "client"),
        default="stub",
        help="how our server is called: 'stub', the generated gRPC stub with the messages"
        " decoded, as far as MLflow's JSON is taken (default); 'client', RegistryClient, which"
        " also builds its frozen dataclasses (about 8 us per version on the bench machine)",
    )
    parser.add_argument("--no-mlflow", action="store_true", help="measure our server only")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be positive and --warmup not negative")
    args.ops = list(dict.fromkeys(args.ops))
    args.concurrency = list(dict.fromkeys(args.concurrency))
    args.mlflow_workers = list(dict.fromkeys(args.mlflow_workers))
    return args


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwind like Ctrl-C does, so that servers are stopped and databases dropped.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, databases dropped", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    admin_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    ops: list[str] = args.ops
    concurrencies: list[int] = args.concurrency
    notes: list[str] = []
    mlflow_version: str | None = None
    if importlib.util.find_spec("mlflow") is not None:
        mlflow_version = importlib.metadata.version("mlflow")
    if args.no_mlflow:
        notes.append("--no-mlflow: our server only")
    elif mlflow_version is None:
        notes.append("mlflow is not installed (pip install -e '.[bench]'): our server only")
    setups: list[int | None] = (
        [] if args.no_mlflow or mlflow_version is None else args.mlflow_workers
    )
    fx = Fixtures(prefix=f"vs{uuid.uuid4().hex[:8]}", search_size=args.search_size)
    labels = [OURS] + ["mlflow" if w is None else f"mlflow-w{w}" for w in setups]
    cells_planned = len(ops) * len(concurrencies) * len(labels)
    print(
        f"{len(ops)} operations x concurrency {','.join(map(str, concurrencies))} x"
        f" {len(labels)} systems ({', '.join(labels)}): {cells_planned} cells of"
        f" {args.warmup:g} s warm-up + {args.seconds:g} s, about"
        f" {cells_planned * (args.warmup + args.seconds + 1) / 60:.1f} min after start-up"
        " and seeding",
        flush=True,
    )
    for note in notes:
        print(f"note: {note}")

    cells: list[CellResult] = []
    checks: list[dict[str, Any]] = []
    seeding: list[SeedReport] = []
    systems_info: list[dict[str, object]] = []
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vs-mlflow-")))
        our_url = stack.enter_context(throwaway_database(admin_url))
        servers: list[MlflowServer] = []
        for workers, label in zip(setups, labels[1:], strict=True):
            url = stack.enter_context(throwaway_database(admin_url))
            servers.append(stack.enter_context(mlflow_server(label, url, folder / label, workers)))
        stack.callback(stop_all, servers)
        print("starting servers ...", flush=True)
        started = time.monotonic()
        engine = make_engine(our_url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        processes = parse_processes(args.processes)
        workers = args.workers or max(4, 16 // processes)
        our_env = {"REGISTRY_PROCESSES": str(processes), "REGISTRY_WORKERS": str(workers)}
        ours = stack.enter_context(
            registry_server(our_url, str(folder / "ours-artifacts"), our_env)
        )
        targets = [
            SystemTarget(
                OURS,
                OURS,
                ours.target,
                f"registry-server serve (gRPC), {processes} process(es) x {workers} threads",
                client=args.our_client,
            )
        ]
        pids = [ours.pid]
        urls = [our_url]
        for server in servers:
            server.wait_ready()
            workers_text = "default: 4" if server.workers is None else str(server.workers)
            targets.append(
                SystemTarget(
                    server.label,
                    "mlflow",
                    server.url,
                    f"mlflow {mlflow_version} server, uvicorn workers {workers_text}",
                )
            )
            pids.append(server.pid)
            urls.append(server.database_url)
        print(f"servers up in {time.monotonic() - started:.0f} s", flush=True)
        admin = sa.create_engine(admin_url, pool_size=1)
        stack.callback(admin.dispose)
        meter = CpuMeter(admin)
        with admin.connect() as conn:
            max_connections = int(conn.exec_driver_sql("SHOW max_connections").scalar() or 0)
        systems: list[System] = []
        for target, pid, url in zip(targets, pids, urls, strict=True):
            api = target.connect("bench-parent")
            stack.callback(api.close)
            systems.append(System(target, pid, url, api))
            systems_info.append({**asdict(target), "pid": pid})
        pools: dict[int, ClientPool] = {}
        for c in concurrencies:
            processes = min(c, args.client_processes)
            pools[c] = stack.enter_context(client_pool(c, processes, targets))
        print(
            "client processes: " + ", ".join(f"c{c}: {p.processes}" for c, p in pools.items()),
            flush=True,
        )
        waited = wait_until_idle(pids)
        print(
            "servers idle after another "
            + ("(timed out)" if waited is None else f"{waited:.0f} s")
            + (
                " (MLflow starts its job runner and huey consumers after /health)"
                if servers
                else ""
            ),
            flush=True,
        )
        # Seeding goes through the APIs, so it wants many workers even for a c1-only run.
        seeder = pools[max(concurrencies)]
        if seeder.concurrency < SEED_WORKERS:
            seeder = stack.enter_context(
                client_pool(SEED_WORKERS, min(SEED_WORKERS, args.client_processes), targets)
            )
        for system in systems:
            report = seed(seeder, system, fx, ops, concurrencies)
            seeding.append(report)
            print(
                f"seeded {system.label} in {report.seconds:.1f} s: {report.created} created,"
                f" {report.errors} errors, {report.topped_up} added afterwards,"
                f" VACUUM ANALYZE {report.analyze_seconds:.1f} s,"
                f" search rows {report.search_rows}",
                flush=True,
            )
            for message, count in report.error_messages:
                print(f"    {count} x {message}")

        for op in ops:
            for c in concurrencies:
                for system in systems:
                    cell = run_cell(
                        pools[c],
                        system,
                        op,
                        fx,
                        warmup=args.warmup,
                        seconds=args.seconds,
                        meter=meter,
                    )
                    cells.append(cell)
                    print(
                        f"  {op:16} c{c:<3} {system.label:12} {cell.calls:6} calls"
                        f" {cell.ops_per_s:9,.1f} op/s"
                        f"  p50 {_ms(cell.p50_ms):>6} ms  p99 {_ms(cell.p99_ms):>6} ms"
                        f"  errors {cell.all_errors}",
                        flush=True,
                    )
                    check = check_after(system, fx, cell)
                    if check is not None:
                        checks.append(check)

        if any("too many clients" in m for cell in cells for m, _ in cell.error_messages):
            notes.append(
                f"'too many clients': PostgreSQL's max_connections ({max_connections}) was"
                " reached by the connection pools of all the servers (idle ones keep theirs)"
                " and any other users of that PostgreSQL together; the system that got the"
                " error was not necessarily the one holding most connections"
            )
        print_report(cells, checks, labels, ops, concurrencies)
        print()
        called = {"stub": "the generated stub", "client": "RegistryClient"}[args.our_client]
        print(f"ours: registry-server serve (gRPC), called through {called}")
        for target in targets[1:]:
            print(f"{target.label}: {target.description}, REST via requests")
        if any(t.label == "mlflow" for t in targets):
            print(
                "mlflow's default of 4 uvicorn workers leaves Nagle's algorithm on (no TCP_NODELAY"
                " on accepted sockets): about 40 ms more per request on a kept-alive connection;"
                " measured as shipped"
            )
        if "resolve" in ops and len(targets) > 1:
            print(
                "resolve on MLflow = 2 requests (get version by alias, then get-download-uri),"
                " as MLflow's client does it; ours = 1 ResolveModelUri call"
            )
        for note in notes:
            print(f"note: {note}")
        write_json(
            args.json,
            {
                "machine": {**machine_info(), "mlflow": mlflow_version},
                "settings": {
                    "our_client": args.our_client,
                    "seconds": args.seconds,
                    "warmup": args.warmup,
                    "ops": ops,
                    "concurrency": concurrencies,
                    "mlflow_workers": ["default" if w is None else w for w in setups],
                    "client_processes": {str(c): p.processes for c, p in pools.items()},
                    "search_size": args.search_size,
                    "small_model_versions": SMALL_VERSIONS,
                    "page_size": PAGE_SIZE,
                    "prefix": fx.prefix,
                    "postgres_max_connections": max_connections,
                },
                "systems": systems_info,
                "notes": notes,
                "seeding": seeding,
                "cells": [
                    {
                        **asdict(cell),
                        "error_messages": cell.error_messages[:MAX_MESSAGES],
                        "server_cpu_ms_per_call": cell.cpu_ms_per_call("server"),
                        "db_cpu_ms_per_call": cell.cpu_ms_per_call("db"),
                    }
                    for cell in cells
                ],
                "checks": checks,
            },
        )
        print("stopping servers ...", flush=True)

    ours_failed = any(c.all_errors for c in cells if c.system == OURS)
    ours_failed |= any(s.errors for s in seeding if s.system == OURS)
    ours_failed |= any(not c["ok"] for c in checks if c["system"] == OURS)
    if args.artifacts_mib:
        ours_failed |= run_artifact_transfer(args.artifacts_mib, args.json)
    return 1 if ours_failed else 0


def run_artifact_transfer(size_mib: int, json_path: str | None) -> bool:
    """The artifact half of the comparison, after the servers above have stopped:
    bench/artifact_transfer.py moves one file of `size_mib` through our server and
    directly with the minio client against the same S3 endpoint (see its docstring).
    Its table is printed as it runs; its JSON goes under "artifacts". True if it failed."""
    print(f"\nartifact transfer, {size_mib} MiB, through our server vs direct minio:", flush=True)
    script = Path(__file__).with_name("artifact_transfer.py")
    with tempfile.TemporaryDirectory(prefix="vs-artifacts-") as folder:
        out = Path(folder) / "artifacts.json"
        done = subprocess.run(
            [sys.executable, str(script), "--size-mib", str(size_mib), "--json", str(out)],
            check=False,
        )
        if json_path and out.exists():
            payload = json.loads(Path(json_path).read_text())
            payload["artifacts"] = json.loads(out.read_text())
            write_json(json_path, payload)
    return done.returncode != 0


if __name__ == "__main__":
    sys.exit(main())
