"""The two systems behind one interface: our gRPC API and MLflow's REST API, reduced to the
calls the comparison makes, each taken as far as decoding the answer and no further.

MLflow's JSON is decoded but not turned into MLflow entities (its client side then costs
less than MlflowClient's would); ours is called through the generated stub with the
messages decoded but not turned into RegistryClient's dataclasses, unless `--our-client
client` asks for RegistryClient itself.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import requests
import sqlalchemy as sa

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import NotFound, RegistryClient, RegistryError, error_from_rpc

PAGE_SIZE = 100
#: Seconds a single call may take before it counts as an error (both systems).
CALL_TIMEOUT = 30.0
OURS = "ours"


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

    def __init__(self, target: str, actor: str, token: str = "") -> None:
        self._client = RegistryClient(
            target,
            actor=actor,
            token=token or None,
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

    def __init__(self, target: str, actor: str, token: str = "") -> None:
        super().__init__(target, actor, token)
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

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
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
    token: str = ""  # ours: the bearer token's secret when the server requires one

    def connect(self, actor: str) -> RegistryApi:
        if self.kind == OURS:
            api = OursApi if self.client == "client" else OursStubApi
            return api(self.address, actor, self.token)
        return MlflowApi(self.address)


def describe_error(exc: BaseException) -> str:
    """A one-line message that says which system-level failure happened."""
    if isinstance(exc, RegistryError | MlflowCallError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


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
