"""``RegistryStore``: our registry as MLflow's model registry store.

MLflow builds one store per registry URI and caches it (an LRU keyed by the
URI), then calls it from every thread of the process. So the store holds one
``RegistryClient`` (one gRPC channel, which is thread-safe) and nothing that
changes after ``__init__``: every method reads its arguments, makes its calls
and converts the answers on its own stack.

Each method keeps MLflow's semantics (arguments, return types, error codes);
where the registry's rules differ, the server decides and the difference is
listed in docs (Coming from MLflow). Search filters and ``order_by`` go to the
server as they are: its grammar is MLflow's plus extensions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
)
from mlflow.store.model_registry.abstract_store import AbstractStore

from registry_client._client import RegistryClient
from registry_client.mlflow._entities import to_mlflow_model, to_mlflow_version
from registry_client.mlflow._errors import mlflow_errors
from registry_client.mlflow._settings import parse_store_uri
from registry_client.mlflow.files import VersionFilesMixin

__all__ = ["RegistryStore"]

# MLflow's prompt registry keeps prompts as models and versions with this tag
# set to "true"; MLflow's stores leave them out of searches unless the filter
# names the tag (mlflow.prompt.registry_utils.add_prompt_filter_string).
_IS_PROMPT_TAG = "mlflow.prompt.is_prompt"
_NOT_A_PROMPT = f"tags.`{_IS_PROMPT_TAG}` != 'true'"
# MLflow's reserved alias for the highest version (mlflow.utils.validation).
_LATEST_ALIAS = "latest"

# The server's largest page (registry_server/api/paging.py): a version search
# asking for more follows pages up to ``max_results``, as MLflow's stores
# return up to 200,000 versions in one call.
_SERVER_MAX_PAGE = 1000


def _invalid(message: str) -> MlflowException:
    return MlflowException(
        message, error_code=databricks_pb2.ErrorCode.Value("INVALID_PARAMETER_VALUE")
    )


def _without_prompts(filter_string: str | None) -> str:
    """``filter_string`` narrowed to what is not a prompt, as MLflow's stores
    search, unless it asks about prompts itself. The server reads
    ``!= 'true'`` on this tag as "not tagged true" (rows without the tag
    match); the filter is parenthesised, since ours may contain OR."""
    if filter_string and _IS_PROMPT_TAG in filter_string:
        return filter_string
    if not filter_string or not filter_string.strip():
        return _NOT_A_PROMPT
    return f"({filter_string}) AND {_NOT_A_PROMPT}"


def _tag_dict(tags: Iterable[Any] | None) -> dict[str, str]:
    """MLflow passes tags as lists of ``RegisteredModelTag``/``ModelVersionTag``."""
    return {tag.key: tag.value for tag in tags or ()}


class RegistryStore(VersionFilesMixin, AbstractStore):
    """The ``modelregistry+grpc`` / ``modelregistry+grpcs`` registry store.

    Built by MLflow as ``RegistryStore(store_uri=..., tracking_uri=...)``;
    ``store_uri`` is the registry URI (see ``_settings``), ``tracking_uri``
    MLflow's tracking server, kept for the runs a version links to.
    ``create_model_version`` and ``get_model_version_download_uri`` (files
    held by the registry or pointed at) come from ``files.VersionFilesMixin``.
    """

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        base: Any = super()  # AbstractStore's methods carry no annotations
        base.__init__(store_uri, tracking_uri)
        if store_uri is None:
            from mlflow.tracking._model_registry.utils import _resolve_registry_uri

            store_uri = _resolve_registry_uri(None)
        #: The URI this store was built with (the artifact plugin reads it).
        self.store_uri: str = str(store_uri)
        self.tracking_uri: str | None = tracking_uri
        #: The one connection, shared by every thread that uses this store.
        self.client: RegistryClient = _connect(self.store_uri)

    # MLflow pickles stores in a few places (Spark UDFs); a channel cannot be
    # pickled, so a copy reconnects from the URI.
    def __getstate__(self) -> dict[str, Any]:
        base: Any = super()
        state: dict[str, Any] = base.__getstate__()
        state.pop("client", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        base: Any = super()
        base.__setstate__(state)
        self.client = _connect(self.store_uri)

    def close(self) -> None:
        """Close the channel (MLflow never calls this; tests and scripts may)."""
        self.client.close()

    # -- registered models -------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Iterable[Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> Any:
        _no_deployment_job(deployment_job_id)
        with mlflow_errors():
            rm = self.client.create_registered_model(
                name, tags=_tag_dict(tags), description=description
            )
        return to_mlflow_model(rm)

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> Any:
        _no_deployment_job(deployment_job_id)
        with mlflow_errors():
            rm = self.client.update_registered_model(name, description or "")
        return to_mlflow_model(rm)

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        with mlflow_errors():
            rm = self.client.rename_registered_model(name, new_name)
        return to_mlflow_model(rm)

    def delete_registered_model(self, name: str) -> None:
        with mlflow_errors():
            self.client.delete_registered_model(name)

    def get_registered_model(self, name: str) -> Any:
        with mlflow_errors():
            rm = self.client.get_registered_model(name)
        return to_mlflow_model(rm)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> Any:
        """One page; ``max_results`` above 1000 is refused, as by MLflow's stores."""
        size = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT if max_results is None else max_results
        with mlflow_errors():
            page = self.client.search_registered_models(
                _without_prompts(filter_string), size, order_by or None, page_token or None
            )
        return PagedList([to_mlflow_model(m) for m in page], page.token)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[Any]:
        """Highest version per stage (stages in any case; none or empty: every stage)."""
        with mlflow_errors():
            versions = self.client.get_latest_versions(name, stages or None)
        return [to_mlflow_version(v) for v in versions]

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        with mlflow_errors():
            self.client.set_registered_model_tag(name, tag.key, tag.value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with mlflow_errors():
            self.client.delete_registered_model_tag(name, key)

    # -- model versions ------------------------------------------------------------

    def update_model_version(self, name: str, version: str | int, description: str | None) -> Any:
        with mlflow_errors():
            mv = self.client.update_model_version(name, version, description or "")
        return to_mlflow_version(mv)

    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> Any:
        with mlflow_errors():
            mv = self.client.transition_model_version_stage(
                name, version, stage, archive_existing_versions=bool(archive_existing_versions)
            )
        return to_mlflow_version(mv)

    def delete_model_version(self, name: str, version: str | int) -> None:
        with mlflow_errors():
            self.client.delete_model_version(name, version)

    def get_model_version(self, name: str, version: str | int) -> Any:
        with mlflow_errors():
            mv = self.client.get_model_version(name, version)
        return to_mlflow_version(mv)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> Any:
        """Up to ``max_results`` versions (MLflow's default 10,000, at most
        200,000), fetched in server pages of up to 1000; the token continues
        after the last one returned."""
        wanted = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT if max_results is None else max_results
        if not isinstance(wanted, int) or not 0 < wanted <= (
            SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD
        ):
            raise _invalid(
                "Invalid value for request parameter max_results. It must be at most "
                f"{SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD}, but got value {max_results}"
            )
        found: list[Any] = []
        token = page_token or None
        with mlflow_errors():
            while True:
                page = self.client.search_model_versions(
                    _without_prompts(filter_string),
                    min(_SERVER_MAX_PAGE, wanted - len(found)),
                    order_by or None,
                    token,
                )
                found.extend(to_mlflow_version(v) for v in page)
                token = page.token
                if token is None or len(found) >= wanted:
                    break
        return PagedList(found, token)

    def set_model_version_tag(self, name: str, version: str | int, tag: Any) -> None:
        with mlflow_errors():
            self.client.set_model_version_tag(name, version, tag.key, tag.value)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        with mlflow_errors():
            self.client.delete_model_version_tag(name, version, key)

    # -- aliases -------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        with mlflow_errors():
            self.client.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with mlflow_errors():
            self.client.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> Any:
        """``latest`` (any case) is the highest version, as in MLflow's stores
        (the prompt registry loads ``prompts:/name@latest`` so); the registry
        reserves that name, so it is never a real alias."""
        with mlflow_errors():
            if alias.lower() == _LATEST_ALIAS:
                versions = self.client.get_latest_versions(name)
                if not versions:
                    raise MlflowException(
                        f"Latest version not found for model {name}.",
                        error_code=databricks_pb2.ErrorCode.Value("RESOURCE_DOES_NOT_EXIST"),
                    )
                mv = max(versions, key=lambda v: v.version)
            else:
                mv = self.client.get_model_version_by_alias(name, alias)
        return to_mlflow_version(mv)

    # -- webhooks: not offered through MLflow ------------------------------------

    def create_webhook(self, *args: Any, **kwargs: Any) -> NoReturn:
        _no_webhooks("create_webhook")

    def get_webhook(self, *args: Any, **kwargs: Any) -> NoReturn:
        _no_webhooks("get_webhook")

    def list_webhooks(self, *args: Any, **kwargs: Any) -> NoReturn:
        _no_webhooks("list_webhooks")

    def list_webhooks_by_event(self, *args: Any, **kwargs: Any) -> NoReturn:
        _no_webhooks("list_webhooks_by_event")

    def update_webhook(self, *args: Any, **kwargs: Any) -> NoReturn:
        _no_webhooks("update_webhook")

    def delete_webhook(self, *args: Any, **kwargs: Any) -> NoReturn:
        _no_webhooks("delete_webhook")

    def test_webhook(self, *args: Any, **kwargs: Any) -> NoReturn:
        _no_webhooks("test_webhook")


def _connect(store_uri: str) -> RegistryClient:
    """The client a store URI asks for; a bad URI or TLS file is
    ``INVALID_PARAMETER_VALUE``, raised when MLflow builds the store."""
    try:
        settings = parse_store_uri(store_uri)
        extra: dict[str, Any] = {"timeout": settings.timeout} if settings.timeout else {}
        return RegistryClient(
            settings.target,
            tls=settings.tls,
            tls_ca=settings.tls_ca,
            tls_cert=settings.tls_cert,
            tls_key=settings.tls_key,
            tls_server_name=settings.tls_server_name,
            **extra,
        )
    except ValueError as exc:  # includes TlsArgumentError: a bad file or option
        raise _invalid(str(exc)) from exc


def _no_deployment_job(deployment_job_id: str | None) -> None:
    # Databricks deployment jobs: nothing in the registry runs them.
    if deployment_job_id:
        raise _invalid("deployment_job_id is not supported by the modelregistry registry store")


def _no_webhooks(method: str) -> NoReturn:
    raise MlflowException(
        f"{method}: MLflow webhooks are not supported by the modelregistry registry store "
        "(modelregistry+grpc); the registry's own events are managed with its API and CLI",
        error_code=databricks_pb2.ErrorCode.Value("NOT_IMPLEMENTED"),
    )
