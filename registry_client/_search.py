"""Finding versions: models:/ URIs, filtered searches, runs, data sets and
lineage links across models."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from google.protobuf.message import Message

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._args import _version_number
from registry_client._transport import Transport
from registry_client.types import (
    ModelVersion,
    RegisteredModel,
    ResolvedModel,
    SearchPage,
    VersionLineage,
)


def _order_by(order_by: Sequence[str] | str | None) -> list[str]:
    if order_by is None:
        return []
    return [order_by] if isinstance(order_by, str) else list(order_by)


class SearchMixin(Transport):
    def resolve(self, uri: str) -> ResolvedModel:
        """Resolve a ``models:/`` URI (number, stage, ``latest`` or ``@alias``).

        Only READY versions resolve. Keep ``resolved_uri`` wherever the model
        is used: unlike aliases and stages, it never moves.
        """
        request = pb.ResolveModelUriRequest(uri=uri)
        response = self._call("ResolveModelUri", request)
        return ResolvedModel._from_proto(response)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> SearchPage[RegisteredModel]:
        """One page of models matching ``filter_string`` (MLflow's grammar plus
        OR, parentheses, ``alias``, ``description`` and timestamps; see
        docs/search.md).

        ``order_by`` e.g. ``["last_updated_timestamp DESC"]``; default by name.
        Pass the page's ``token`` as ``page_token`` for the next page.
        """
        request = pb.SearchRegisteredModelsRequest(
            filter=filter_string or "",
            order_by=_order_by(order_by),
            page_size=max_results,
            page_token=page_token or "",
        )
        response = self._call("SearchRegisteredModels", request)
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
        response = self._call("SearchModelVersions", request)
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
        pages = self._pages(method_name, build)
        return [ModelVersion._from_proto(v) for page in pages for v in page.model_versions]

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
        response = self._call("GetModelVersionLineage", request)
        return VersionLineage._from_proto(response)
