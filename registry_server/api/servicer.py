"""The ModelRegistry servicer: check the request's shape, make one domain call,
convert the result. Errors are raised as domain exceptions and mapped to gRPC
status codes by the error interceptor."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from registry_api import wire
from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_server.api import convert, imports, paging
from registry_server.api.auth import current_caller
from registry_server.api.uploads import UploadGate
from registry_server.api.watch import WatchRpcs
from registry_server.api.webhooks import WebhookRpcs
from registry_server.config import DEFAULT_UPLOAD_HEADER_TIMEOUT, DEFAULT_UPLOADS_PER_PRINCIPAL
from registry_server.domain import uri as uris
from registry_server.domain.artifacts import ArtifactService
from registry_server.domain.errors import InvalidArgument
from registry_server.domain.grants import GrantService
from registry_server.domain.history import HistoryService
from registry_server.domain.lineage import LineageService
from registry_server.domain.registry import Registry
from registry_server.domain.search import SearchService
from registry_server.domain.tokens import TokenService
from registry_server.domain.webhooks import WebhookService
from registry_server.events.watch import WatchService


class ModelRegistryServicer(WatchRpcs, WebhookRpcs, registry_pb2_grpc.ModelRegistryServicer):
    def __init__(
        self,
        registry: Registry,
        artifacts: ArtifactService,
        search: SearchService,
        history: HistoryService,
        lineage: LineageService,
        grants: GrantService,
        tokens: TokenService,
        authentication_required: bool,
        uploads: UploadGate | None = None,
        watch: WatchService | None = None,
        webhooks: WebhookService | None = None,
    ) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.search = search
        self.history = history
        self.lineage = lineage
        self.grants = grants
        self.tokens = tokens
        self.authentication_required = authentication_required
        self.watch = watch
        if webhooks is not None:
            self.webhooks = webhooks
        self.uploads = uploads or UploadGate(
            DEFAULT_UPLOAD_HEADER_TIMEOUT, DEFAULT_UPLOADS_PER_PRINCIPAL, lambda caller: True
        )

    # models

    def CreateRegisteredModel(
        self, request: pb.CreateRegisteredModelRequest, context: grpc.ServicerContext
    ) -> pb.CreateRegisteredModelResponse:
        model = self.registry.create_registered_model(
            request.name,
            request.description,
            convert.tags_from_proto(request.tags),
            current_caller(),
        )
        return pb.CreateRegisteredModelResponse(registered_model=convert.model_to_proto(model))

    def GetRegisteredModel(
        self, request: pb.GetRegisteredModelRequest, context: grpc.ServicerContext
    ) -> pb.GetRegisteredModelResponse:
        model = self.registry.get_registered_model(request.name, current_caller())
        return pb.GetRegisteredModelResponse(registered_model=convert.model_to_proto(model))

    def UpdateRegisteredModel(
        self, request: pb.UpdateRegisteredModelRequest, context: grpc.ServicerContext
    ) -> pb.UpdateRegisteredModelResponse:
        model = self.registry.update_registered_model(
            request.name, request.description, current_caller()
        )
        return pb.UpdateRegisteredModelResponse(registered_model=convert.model_to_proto(model))

    def RenameRegisteredModel(
        self, request: pb.RenameRegisteredModelRequest, context: grpc.ServicerContext
    ) -> pb.RenameRegisteredModelResponse:
        model = self.registry.rename_registered_model(
            request.name, request.new_name, current_caller()
        )
        return pb.RenameRegisteredModelResponse(registered_model=convert.model_to_proto(model))

    def DeleteRegisteredModel(
        self, request: pb.DeleteRegisteredModelRequest, context: grpc.ServicerContext
    ) -> pb.DeleteRegisteredModelResponse:
        self.registry.delete_registered_model(request.name, current_caller())
        return pb.DeleteRegisteredModelResponse()

    def SetRegisteredModelTag(
        self, request: pb.SetRegisteredModelTagRequest, context: grpc.ServicerContext
    ) -> pb.SetRegisteredModelTagResponse:
        self.registry.set_registered_model_tag(
            request.name, request.key, request.value, current_caller()
        )
        return pb.SetRegisteredModelTagResponse()

    def DeleteRegisteredModelTag(
        self, request: pb.DeleteRegisteredModelTagRequest, context: grpc.ServicerContext
    ) -> pb.DeleteRegisteredModelTagResponse:
        self.registry.delete_registered_model_tag(request.name, request.key, current_caller())
        return pb.DeleteRegisteredModelTagResponse()

    def GetLatestVersions(
        self, request: pb.GetLatestVersionsRequest, context: grpc.ServicerContext
    ) -> pb.GetLatestVersionsResponse:
        found = self.registry.get_latest_versions(
            request.name, list(request.stages), current_caller()
        )
        return pb.GetLatestVersionsResponse(
            model_versions=[convert.version_to_proto(v) for v in found]
        )

    # versions

    def CreateModelVersion(
        self, request: pb.CreateModelVersionRequest, context: grpc.ServicerContext
    ) -> pb.CreateModelVersionResponse:
        created = self.registry.create_model_version(
            convert.new_version_from_proto(request), current_caller()
        )
        return pb.CreateModelVersionResponse(
            model_version=convert.version_to_proto(created.version),
            idempotent_replay=created.idempotent_replay,
        )

    def GetModelVersion(
        self, request: pb.GetModelVersionRequest, context: grpc.ServicerContext
    ) -> pb.GetModelVersionResponse:
        found = self.registry.get_model_version(request.name, request.version, current_caller())
        return pb.GetModelVersionResponse(model_version=convert.version_to_proto(found))

    def UpdateModelVersion(
        self, request: pb.UpdateModelVersionRequest, context: grpc.ServicerContext
    ) -> pb.UpdateModelVersionResponse:
        found = self.registry.update_model_version(
            request.name, request.version, request.description, current_caller()
        )
        return pb.UpdateModelVersionResponse(model_version=convert.version_to_proto(found))

    def DeleteModelVersion(
        self, request: pb.DeleteModelVersionRequest, context: grpc.ServicerContext
    ) -> pb.DeleteModelVersionResponse:
        self.registry.delete_model_version(request.name, request.version, current_caller())
        return pb.DeleteModelVersionResponse()

    def TransitionModelVersionStage(
        self, request: pb.TransitionModelVersionStageRequest, context: grpc.ServicerContext
    ) -> pb.TransitionModelVersionStageResponse:
        moved = self.registry.transition_model_version_stage(
            request.name,
            request.version,
            request.stage,
            request.archive_existing_versions,
            current_caller(),
        )
        return pb.TransitionModelVersionStageResponse(model_version=convert.version_to_proto(moved))

    def SetModelVersionTag(
        self, request: pb.SetModelVersionTagRequest, context: grpc.ServicerContext
    ) -> pb.SetModelVersionTagResponse:
        self.registry.set_model_version_tag(
            request.name, request.version, request.key, request.value, current_caller()
        )
        return pb.SetModelVersionTagResponse()

    def DeleteModelVersionTag(
        self, request: pb.DeleteModelVersionTagRequest, context: grpc.ServicerContext
    ) -> pb.DeleteModelVersionTagResponse:
        self.registry.delete_model_version_tag(
            request.name, request.version, request.key, current_caller()
        )
        return pb.DeleteModelVersionTagResponse()

    # aliases

    def SetRegisteredModelAlias(
        self, request: pb.SetRegisteredModelAliasRequest, context: grpc.ServicerContext
    ) -> pb.SetRegisteredModelAliasResponse:
        expected = request.expected_version if request.HasField("expected_version") else None
        move = self.registry.set_registered_model_alias(
            request.name, request.alias, request.version, expected, current_caller()
        )
        return pb.SetRegisteredModelAliasResponse(
            model_version=convert.version_to_proto(move.version),
            previous_version=move.previous_version or 0,
        )

    def DeleteRegisteredModelAlias(
        self, request: pb.DeleteRegisteredModelAliasRequest, context: grpc.ServicerContext
    ) -> pb.DeleteRegisteredModelAliasResponse:
        self.registry.delete_registered_model_alias(request.name, request.alias, current_caller())
        return pb.DeleteRegisteredModelAliasResponse()

    def GetModelVersionByAlias(
        self, request: pb.GetModelVersionByAliasRequest, context: grpc.ServicerContext
    ) -> pb.GetModelVersionByAliasResponse:
        found = self.registry.get_model_version_by_alias(
            request.name, request.alias, current_caller()
        )
        return pb.GetModelVersionByAliasResponse(model_version=convert.version_to_proto(found))

    # URIs and history

    def ResolveModelUri(
        self, request: pb.ResolveModelUriRequest, context: grpc.ServicerContext
    ) -> pb.ResolveModelUriResponse:
        version, path = self.registry.resolve_model_uri(request.uri, current_caller())
        return pb.ResolveModelUriResponse(
            model_version=convert.version_to_proto(version),
            path=path,
            resolved_uri=uris.exact(version.name, version.version, path),
        )

    def ListModelEvents(
        self, request: pb.ListModelEventsRequest, context: grpc.ServicerContext
    ) -> pb.ListModelEventsResponse:
        page = self.history.list_events(convert.event_query_from_proto(request), current_caller())
        found, next_after = convert.events_page_to_proto(page.events, page.next_after_event_id)
        return pb.ListModelEventsResponse(events=found, next_after_event_id=next_after)

    def GetModelStateAsOf(
        self, request: pb.GetModelStateAsOfRequest, context: grpc.ServicerContext
    ) -> pb.GetModelStateAsOfResponse:
        state = self.history.state_as_of(request.name, request.as_of_timestamp, current_caller())
        return convert.state_as_of_to_proto(state)

    # search and lineage

    def SearchRegisteredModels(
        self, request: pb.SearchRegisteredModelsRequest, context: grpc.ServicerContext
    ) -> pb.SearchRegisteredModelsResponse:
        page = self.search.search_models(
            request.filter,
            list(request.order_by),
            request.page_size,
            request.page_token,
            current_caller(),
        )
        return pb.SearchRegisteredModelsResponse(
            registered_models=[convert.model_to_proto(m) for m in page.items],
            next_page_token=page.next_page_token,
        )

    def SearchModelVersions(
        self, request: pb.SearchModelVersionsRequest, context: grpc.ServicerContext
    ) -> pb.SearchModelVersionsResponse:
        page = self.search.search_versions(
            request.filter,
            list(request.order_by),
            request.page_size,
            request.page_token,
            current_caller(),
        )
        return pb.SearchModelVersionsResponse(
            model_versions=[convert.version_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    def FindModelVersionsByRun(
        self, request: pb.FindModelVersionsByRunRequest, context: grpc.ServicerContext
    ) -> pb.FindModelVersionsByRunResponse:
        page = self.search.versions_by_run(
            request.run_id, request.page_size, request.page_token, current_caller()
        )
        return pb.FindModelVersionsByRunResponse(
            model_versions=[convert.version_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    def FindModelVersionsByDataset(
        self, request: pb.FindModelVersionsByDatasetRequest, context: grpc.ServicerContext
    ) -> pb.FindModelVersionsByDatasetResponse:
        page = self.search.versions_by_dataset(
            request.digest, request.page_size, request.page_token, current_caller()
        )
        return pb.FindModelVersionsByDatasetResponse(
            model_versions=[convert.version_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    def GetModelVersionLineage(
        self, request: pb.GetModelVersionLineageRequest, context: grpc.ServicerContext
    ) -> pb.GetModelVersionLineageResponse:
        found = self.lineage.lineage(
            request.name, request.version, request.max_depth, current_caller()
        )
        return convert.lineage_to_proto(found)

    # artifacts

    def UploadArtifact(
        self, request_iterator: Iterator[pb.UploadArtifactRequest], context: grpc.ServicerContext
    ) -> pb.UploadArtifactResponse:
        # Admitted before the header is awaited: a stream holds a worker
        # (api/uploads.py).
        caller = current_caller()
        with (
            self.uploads.admitted(caller),
            self.uploads.messages(request_iterator, context) as messages,
        ):
            first = next(messages, None)
            if first is None or first.WhichOneof("part") != "header":
                raise InvalidArgument("header: the first UploadArtifact message must be the header")
            header = first.header

            def chunks():
                for message in messages:
                    if message.WhichOneof("part") != "chunk":
                        raise InvalidArgument("chunk: only chunks may follow the header")
                    yield message.chunk

            stored = self.artifacts.upload(
                header.name, header.version, header.path, chunks(), caller
            )
        return pb.UploadArtifactResponse(file=convert.file_to_proto(stored))

    def FinalizeModelVersion(
        self, request: pb.FinalizeModelVersionRequest, context: grpc.ServicerContext
    ) -> pb.FinalizeModelVersionResponse:
        ready = self.artifacts.finalize(
            request.name,
            request.version,
            [convert.file_from_proto(f) for f in request.expected_manifest],
            current_caller(),
        )
        return pb.FinalizeModelVersionResponse(model_version=convert.version_to_proto(ready))

    def AbortModelVersion(
        self, request: pb.AbortModelVersionRequest, context: grpc.ServicerContext
    ) -> pb.AbortModelVersionResponse:
        aborted = self.artifacts.abort(
            request.name, request.version, request.reason, current_caller()
        )
        return pb.AbortModelVersionResponse(model_version=convert.version_to_proto(aborted))

    def ListArtifacts(
        self, request: pb.ListArtifactsRequest, context: grpc.ServicerContext
    ) -> pb.ListArtifactsResponse:
        version, manifest = self.artifacts.list(
            request.name, request.version, request.uri, current_caller()
        )
        files, next_token = paging.page(
            manifest,
            lambda f: (f.path,),
            listing="ListArtifacts",
            request=(request.name, request.version, request.uri),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListArtifactsResponse(
            model_version=convert.version_to_proto(version),
            files=[convert.file_to_proto(f) for f in files],
            next_page_token=next_token,
        )

    def DownloadArtifact(
        self, request: pb.DownloadArtifactRequest, context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        # Messages serialized here, without a protobuf object per chunk
        # (registry_api/wire.py); server.py registers the serializer
        # that passes them through.
        download = self.artifacts.download(
            request.name, request.version, request.path, request.offset, current_caller()
        )
        header: pb.ArtifactFile | None = convert.file_to_proto(download.file)
        for chunk in download.chunks:
            yield wire.encode_download(chunk, header)
            header = None
        if header is not None:
            yield wire.encode_download(b"", header)

    def GetArtifactDownloadUrls(
        self, request: pb.GetArtifactDownloadUrlsRequest, context: grpc.ServicerContext
    ) -> pb.GetArtifactDownloadUrlsResponse:
        found = self.artifacts.download_urls(
            request.name,
            request.version,
            list(request.paths),
            request.expires_in_seconds,
            current_caller(),
            from_registry=request.from_registry,
        )
        return pb.GetArtifactDownloadUrlsResponse(
            supported=found.supported,
            urls=[
                pb.GetArtifactDownloadUrlsResponse.Url(file=convert.file_to_proto(f), url=url)
                for f, url in found.urls
            ],
            from_registry=found.from_registry,
        )

    # access control

    def SetModelProtection(
        self, request: pb.SetModelProtectionRequest, context: grpc.ServicerContext
    ) -> pb.SetModelProtectionResponse:
        caller = current_caller()
        self.grants.set_protection(
            request.name, list(request.protected_aliases), list(request.protected_stages), caller
        )
        model = self.registry.get_registered_model(request.name, caller)
        return pb.SetModelProtectionResponse(registered_model=convert.model_to_proto(model))

    def SetModelGrant(
        self, request: pb.SetModelGrantRequest, context: grpc.ServicerContext
    ) -> pb.SetModelGrantResponse:
        self.grants.set_grant(
            request.name, request.principal, convert.role_from_proto(request.role), current_caller()
        )
        return pb.SetModelGrantResponse()

    def DeleteModelGrant(
        self, request: pb.DeleteModelGrantRequest, context: grpc.ServicerContext
    ) -> pb.DeleteModelGrantResponse:
        self.grants.delete_grant(request.name, request.principal, current_caller())
        return pb.DeleteModelGrantResponse()

    def ListModelGrants(
        self, request: pb.ListModelGrantsRequest, context: grpc.ServicerContext
    ) -> pb.ListModelGrantsResponse:
        found = self.grants.list_grants(request.name, current_caller())
        grants, next_token = paging.page(
            found,
            lambda grant: (grant[0],),
            listing="ListModelGrants",
            request=(request.name,),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListModelGrantsResponse(
            grants=[pb.ModelGrant(principal=p, role=convert.role_to_proto(r)) for p, r in grants],
            next_page_token=next_token,
        )

    def CreateAccessToken(
        self, request: pb.CreateAccessTokenRequest, context: grpc.ServicerContext
    ) -> pb.CreateAccessTokenResponse:
        token, secret = self.tokens.create(
            request.principal,
            convert.role_from_proto(request.role),
            request.description,
            request.expires_in_seconds,
            current_caller(),
        )
        return pb.CreateAccessTokenResponse(token=convert.token_to_proto(token), secret=secret)

    def ListAccessTokens(
        self, request: pb.ListAccessTokensRequest, context: grpc.ServicerContext
    ) -> pb.ListAccessTokensResponse:
        found = self.tokens.list(request.include_inactive, current_caller())
        tokens, next_token = paging.page(
            found,
            lambda token: (-token.token_id,),  # newest first
            listing="ListAccessTokens",
            request=(request.include_inactive,),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListAccessTokensResponse(
            tokens=[convert.token_to_proto(t) for t in tokens], next_page_token=next_token
        )

    def RevokeAccessToken(
        self, request: pb.RevokeAccessTokenRequest, context: grpc.ServicerContext
    ) -> pb.RevokeAccessTokenResponse:
        token = self.tokens.revoke(request.token_id, current_caller())
        return pb.RevokeAccessTokenResponse(token=convert.token_to_proto(token))

    def WhoAmI(self, request: pb.WhoAmIRequest, context: grpc.ServicerContext) -> pb.WhoAmIResponse:
        caller = current_caller()
        return pb.WhoAmIResponse(
            principal=caller.principal,
            role=convert.role_to_proto(caller.role),
            authentication_required=self.authentication_required,
        )

    # imports (admin only; see domain/imports.py)

    def ImportRegisteredModel(
        self, request: pb.ImportRegisteredModelRequest, context: grpc.ServicerContext
    ) -> pb.ImportRegisteredModelResponse:
        model, created = self.registry.import_registered_model(
            imports.model_import_from_proto(request), current_caller()
        )
        return pb.ImportRegisteredModelResponse(
            registered_model=convert.model_to_proto(model), created=created
        )

    def ImportModelVersion(
        self, request: pb.ImportModelVersionRequest, context: grpc.ServicerContext
    ) -> pb.ImportModelVersionResponse:
        found, already = self.registry.import_model_version(
            imports.version_import_from_proto(request), current_caller()
        )
        return pb.ImportModelVersionResponse(
            model_version=convert.version_to_proto(found), already_imported=already
        )

    def ImportRegisteredModelAlias(
        self, request: pb.ImportRegisteredModelAliasRequest, context: grpc.ServicerContext
    ) -> pb.ImportRegisteredModelAliasResponse:
        found, already = self.registry.import_registered_model_alias(
            request.name, request.alias, request.version, request.imported_from, current_caller()
        )
        return pb.ImportRegisteredModelAliasResponse(
            model_version=convert.version_to_proto(found), already_imported=already
        )
