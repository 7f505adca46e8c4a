"""The ModelRegistry servicer: check the request's shape, make one domain call,
convert the result. Errors are raised as domain exceptions and mapped to gRPC
status codes by the error interceptor."""

from __future__ import annotations

import grpc

from registry_client.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client.proto.modelregistry.v1 import registry_pb2_grpc
from registry_server.api import convert
from registry_server.domain import uri as uris
from registry_server.domain import validation
from registry_server.domain.artifacts import ArtifactService
from registry_server.domain.errors import InvalidArgument
from registry_server.domain.history import HistoryService
from registry_server.domain.lineage import LineageService
from registry_server.domain.registry import Registry
from registry_server.domain.search import SearchService

ACTOR_METADATA_KEY = "registry-actor"
ANONYMOUS = "anonymous"


def actor_of(context: grpc.ServicerContext) -> str:
    """Who is calling, as recorded in events. Token identities replace this later."""
    for key, value in context.invocation_metadata() or ():
        if key == ACTOR_METADATA_KEY and isinstance(value, str) and value.strip():
            return validation.short(value.strip(), "registry-actor metadata")
    return ANONYMOUS


class ModelRegistryServicer(registry_pb2_grpc.ModelRegistryServicer):
    def __init__(
        self,
        registry: Registry,
        artifacts: ArtifactService,
        search: SearchService,
        history: HistoryService,
        lineage: LineageService,
    ) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.search = search
        self.history = history
        self.lineage = lineage

    # models

    def CreateRegisteredModel(self, request, context):
        model = self.registry.create_registered_model(
            request.name,
            request.description,
            convert.tags_from_proto(request.tags),
            actor_of(context),
        )
        return pb.CreateRegisteredModelResponse(registered_model=convert.model_to_proto(model))

    def GetRegisteredModel(self, request, context):
        model = self.registry.get_registered_model(request.name)
        return pb.GetRegisteredModelResponse(registered_model=convert.model_to_proto(model))

    def UpdateRegisteredModel(self, request, context):
        model = self.registry.update_registered_model(
            request.name, request.description, actor_of(context)
        )
        return pb.UpdateRegisteredModelResponse(registered_model=convert.model_to_proto(model))

    def RenameRegisteredModel(self, request, context):
        model = self.registry.rename_registered_model(
            request.name, request.new_name, actor_of(context)
        )
        return pb.RenameRegisteredModelResponse(registered_model=convert.model_to_proto(model))

    def DeleteRegisteredModel(self, request, context):
        self.registry.delete_registered_model(request.name, actor_of(context))
        return pb.DeleteRegisteredModelResponse()

    def SetRegisteredModelTag(self, request, context):
        self.registry.set_registered_model_tag(
            request.name, request.key, request.value, actor_of(context)
        )
        return pb.SetRegisteredModelTagResponse()

    def DeleteRegisteredModelTag(self, request, context):
        self.registry.delete_registered_model_tag(request.name, request.key, actor_of(context))
        return pb.DeleteRegisteredModelTagResponse()

    def GetLatestVersions(self, request, context):
        found = self.registry.get_latest_versions(request.name, list(request.stages))
        return pb.GetLatestVersionsResponse(
            model_versions=[convert.version_to_proto(v) for v in found]
        )

    # versions

    def CreateModelVersion(self, request, context):
        created = self.registry.create_model_version(
            convert.new_version_from_proto(request), actor_of(context)
        )
        return pb.CreateModelVersionResponse(
            model_version=convert.version_to_proto(created.version),
            idempotent_replay=created.idempotent_replay,
        )

    def GetModelVersion(self, request, context):
        found = self.registry.get_model_version(request.name, request.version)
        return pb.GetModelVersionResponse(model_version=convert.version_to_proto(found))

    def UpdateModelVersion(self, request, context):
        found = self.registry.update_model_version(
            request.name, request.version, request.description, actor_of(context)
        )
        return pb.UpdateModelVersionResponse(model_version=convert.version_to_proto(found))

    def DeleteModelVersion(self, request, context):
        self.registry.delete_model_version(request.name, request.version, actor_of(context))
        return pb.DeleteModelVersionResponse()

    def TransitionModelVersionStage(self, request, context):
        moved = self.registry.transition_model_version_stage(
            request.name,
            request.version,
            request.stage,
            request.archive_existing_versions,
            actor_of(context),
        )
        return pb.TransitionModelVersionStageResponse(model_version=convert.version_to_proto(moved))

    def SetModelVersionTag(self, request, context):
        self.registry.set_model_version_tag(
            request.name, request.version, request.key, request.value, actor_of(context)
        )
        return pb.SetModelVersionTagResponse()

    def DeleteModelVersionTag(self, request, context):
        self.registry.delete_model_version_tag(
            request.name, request.version, request.key, actor_of(context)
        )
        return pb.DeleteModelVersionTagResponse()

    # aliases

    def SetRegisteredModelAlias(self, request, context):
        expected = request.expected_version if request.HasField("expected_version") else None
        move = self.registry.set_registered_model_alias(
            request.name, request.alias, request.version, expected, actor_of(context)
        )
        return pb.SetRegisteredModelAliasResponse(
            model_version=convert.version_to_proto(move.version),
            previous_version=move.previous_version or 0,
        )

    def DeleteRegisteredModelAlias(self, request, context):
        self.registry.delete_registered_model_alias(request.name, request.alias, actor_of(context))
        return pb.DeleteRegisteredModelAliasResponse()

    def GetModelVersionByAlias(self, request, context):
        found = self.registry.get_model_version_by_alias(request.name, request.alias)
        return pb.GetModelVersionByAliasResponse(model_version=convert.version_to_proto(found))

    # URIs and history

    def ResolveModelUri(self, request, context):
        version, path = self.registry.resolve_model_uri(request.uri)
        return pb.ResolveModelUriResponse(
            model_version=convert.version_to_proto(version),
            path=path,
            resolved_uri=uris.exact(version.name, version.version, path),
        )

    def ListModelEvents(self, request, context):
        page = self.history.list_events(convert.event_query_from_proto(request))
        return pb.ListModelEventsResponse(
            events=[convert.event_to_proto(e) for e in page.events],
            next_after_event_id=page.next_after_event_id,
        )

    def GetModelStateAsOf(self, request, context):
        state = self.history.state_as_of(request.name, request.as_of_timestamp)
        return convert.state_as_of_to_proto(state)

    # search and lineage

    def SearchRegisteredModels(self, request, context):
        page = self.search.search_models(
            request.filter, list(request.order_by), request.page_size, request.page_token
        )
        return pb.SearchRegisteredModelsResponse(
            registered_models=[convert.model_to_proto(m) for m in page.items],
            next_page_token=page.next_page_token,
        )

    def SearchModelVersions(self, request, context):
        page = self.search.search_versions(
            request.filter, list(request.order_by), request.page_size, request.page_token
        )
        return pb.SearchModelVersionsResponse(
            model_versions=[convert.version_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    def FindModelVersionsByRun(self, request, context):
        page = self.search.versions_by_run(request.run_id, request.page_size, request.page_token)
        return pb.FindModelVersionsByRunResponse(
            model_versions=[convert.version_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    def FindModelVersionsByDataset(self, request, context):
        page = self.search.versions_by_dataset(
            request.digest, request.page_size, request.page_token
        )
        return pb.FindModelVersionsByDatasetResponse(
            model_versions=[convert.version_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    def GetModelVersionLineage(self, request, context):
        found = self.lineage.lineage(request.name, request.version, request.max_depth)
        return pb.GetModelVersionLineageResponse(
            model_version=convert.version_to_proto(found.version),
            ancestors=[convert.version_to_proto(v) for v in found.ancestors],
            descendants=[convert.version_to_proto(v) for v in found.descendants],
            truncated=found.truncated,
        )

    # artifacts

    def UploadArtifact(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument("header: the first UploadArtifact message must be the header")
        header = first.header

        def chunks():
            for message in request_iterator:
                if message.WhichOneof("part") != "chunk":
                    raise InvalidArgument("chunk: only chunks may follow the header")
                yield message.chunk

        stored = self.artifacts.upload(
            header.name, header.version, header.path, chunks(), actor_of(context)
        )
        return pb.UploadArtifactResponse(file=convert.file_to_proto(stored))

    def FinalizeModelVersion(self, request, context):
        ready = self.artifacts.finalize(
            request.name,
            request.version,
            [convert.file_from_proto(f) for f in request.expected_manifest],
            actor_of(context),
        )
        return pb.FinalizeModelVersionResponse(model_version=convert.version_to_proto(ready))

    def AbortModelVersion(self, request, context):
        aborted = self.artifacts.abort(
            request.name, request.version, request.reason, actor_of(context)
        )
        return pb.AbortModelVersionResponse(model_version=convert.version_to_proto(aborted))

    def ListArtifacts(self, request, context):
        version, manifest = self.artifacts.list(request.name, request.version, request.uri)
        return pb.ListArtifactsResponse(
            model_version=convert.version_to_proto(version),
            files=[convert.file_to_proto(f) for f in manifest],
        )

    def DownloadArtifact(self, request, context):
        download = self.artifacts.download(
            request.name, request.version, request.path, request.offset
        )
        header = convert.file_to_proto(download.file)
        sent_header = False
        for chunk in download.chunks:
            if sent_header:
                yield pb.DownloadArtifactResponse(chunk=chunk)
            else:
                yield pb.DownloadArtifactResponse(chunk=chunk, file=header)
                sent_header = True
        if not sent_header:
            yield pb.DownloadArtifactResponse(file=header)

    def GetArtifactDownloadUrls(self, request, context):
        supported, urls = self.artifacts.download_urls(
            request.name, request.version, list(request.paths), request.expires_in_seconds
        )
        return pb.GetArtifactDownloadUrlsResponse(
            supported=supported,
            urls=[
                pb.GetArtifactDownloadUrlsResponse.Url(file=convert.file_to_proto(f), url=url)
                for f, url in urls
            ],
        )
