"""ListArtifacts, ListModelGrants and ListAccessTokens page like the searches:
page_size / page_token in, next_page_token out, through the generated stub
against the real server on both backends."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import RegistryClient
from registry_server.api.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

Stub = registry_pb2_grpc.ModelRegistryStub


def _all_pages(call: Callable[..., Any], items: str, page_size: int, **request: Any) -> list[Any]:
    """Every item, following next_page_token; each page at most page_size."""
    found: list[Any] = []
    token = ""
    for _ in range(1000):
        response = call(page_size=page_size, page_token=token, **request)
        page = list(getattr(response, items))
        assert 0 < len(page) <= page_size
        found.extend(page)
        token = response.next_page_token
        if not token:
            return found
    raise AssertionError("paging did not end")


@pytest.fixture
def files(client: RegistryClient, stub: Stub, model_name: str) -> list[str]:
    """Version 1, READY, holding five files; their paths, sorted."""
    client.create_registered_model(model_name)
    version = client.create_model_version(model_name, registry_held_artifacts=True).version
    paths = ["b.bin", "a/1.bin", "a/2.bin", "c/d/e.txt", "z"]
    stored = []
    for path in paths:
        header = pb.UploadArtifactRequest.Header(name=model_name, version=version, path=path)
        stored.append(
            stub.UploadArtifact(
                iter(
                    [pb.UploadArtifactRequest(header=header), pb.UploadArtifactRequest(chunk=b"x")]
                )
            ).file
        )
    stub.FinalizeModelVersion(
        pb.FinalizeModelVersionRequest(name=model_name, version=version, expected_manifest=stored)
    )
    return sorted(paths)


def _list_artifacts(stub: Stub, model_name: str) -> Callable[..., Any]:
    def call(**kw: Any) -> Any:
        return stub.ListArtifacts(pb.ListArtifactsRequest(name=model_name, version=1, **kw))

    return call


@pytest.mark.parametrize("page_size", [1, 2])
def test_artifact_pages_cover_every_file_exactly_once(
    stub: Stub, model_name: str, files: list[str], page_size: int
) -> None:
    found = _all_pages(_list_artifacts(stub, model_name), "files", page_size)
    assert [f.path for f in found] == files


def test_the_default_page_holds_everything_for_clients_that_ignore_tokens(
    stub: Stub, model_name: str, files: list[str]
) -> None:
    assert DEFAULT_PAGE_SIZE == MAX_PAGE_SIZE == 1000
    listed = stub.ListArtifacts(pb.ListArtifactsRequest(name=model_name, version=1))
    assert [f.path for f in listed.files] == files and listed.next_page_token == ""
    by_uri = stub.ListArtifacts(pb.ListArtifactsRequest(uri=f"models:/{model_name}/1/a"))
    assert [f.path for f in by_uri.files] == ["a/1.bin", "a/2.bin"]


def test_a_bad_page_token_or_size_is_invalid_argument_naming_the_field(
    stub: Stub, model_name: str, files: list[str]
) -> None:
    call = _list_artifacts(stub, model_name)
    first = call(page_size=2)
    forged = base64.urlsafe_b64encode(json.dumps({"f": "x", "k": [1]}).encode()).decode()
    wrong_type = json.loads(base64.urlsafe_b64decode(first.next_page_token + "=="))
    wrong_type["k"] = [7]
    for token in [
        "not a token",
        "e30",  # {}
        forged,
        base64.urlsafe_b64encode(json.dumps(wrong_type).encode()).decode(),
        "A" * 5000,
    ]:
        with pytest.raises(grpc.RpcError) as info:
            call(page_size=2, page_token=token)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, token
        assert "page_token" in info.value.details(), token
    # A token is only good for the request that produced it.
    with pytest.raises(grpc.RpcError) as info:
        stub.ListArtifacts(
            pb.ListArtifactsRequest(
                uri=f"models:/{model_name}/1", page_size=2, page_token=first.next_page_token
            )
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in info.value.details()
    for size in (-1, MAX_PAGE_SIZE + 1):
        with pytest.raises(grpc.RpcError) as info:
            call(page_size=size)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_size" in info.value.details()


def test_a_token_continues_after_the_last_file_served(
    stub: Stub, model_name: str, files: list[str]
) -> None:
    call = _list_artifacts(stub, model_name)
    first = call(page_size=2)
    rest = call(page_size=10, page_token=first.next_page_token)
    assert [f.path for f in first.files] + [f.path for f in rest.files] == files
    assert rest.next_page_token == ""


@pytest.mark.parametrize("page_size", [1, 2])
def test_grant_pages_cover_every_grant_exactly_once(
    client: RegistryClient, stub: Stub, model_name: str, page_size: int
) -> None:
    client.create_registered_model(model_name)
    principals = [f"p-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    for principal in principals:
        stub.SetModelGrant(
            pb.SetModelGrantRequest(name=model_name, principal=principal, role=pb.ROLE_READER)
        )

    def call(**kw: Any) -> Any:
        return stub.ListModelGrants(pb.ListModelGrantsRequest(name=model_name, **kw))

    found = _all_pages(call, "grants", page_size)
    assert [g.principal for g in found] == sorted(principals)
    assert [g.principal for g in call().grants] == sorted(principals)
    # The token holds the last principal served, not a position: removing
    # that grant before the next page neither repeats nor skips one.
    first = call(page_size=2)
    stub.DeleteModelGrant(
        pb.DeleteModelGrantRequest(name=model_name, principal=first.grants[-1].principal)
    )
    rest = call(page_token=first.next_page_token)
    assert [g.principal for g in rest.grants] == sorted(principals)[2:]
    with pytest.raises(grpc.RpcError) as info:
        call(page_token="%%%")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in info.value.details()


@pytest.mark.parametrize("page_size", [1, 2])
def test_token_pages_cover_every_token_exactly_once_newest_first(
    stub: Stub, page_size: int
) -> None:
    for i in range(3):
        stub.CreateAccessToken(
            pb.CreateAccessTokenRequest(principal=f"paging-{i}", role=pb.ROLE_READER)
        )
    stub.RevokeAccessToken(
        pb.RevokeAccessTokenRequest(
            token_id=stub.CreateAccessToken(
                pb.CreateAccessTokenRequest(principal="paging-revoked", role=pb.ROLE_READER)
            ).token.token_id
        )
    )
    for include_inactive in (False, True):

        def call(include_inactive: bool = include_inactive, **kw: Any) -> Any:
            return stub.ListAccessTokens(
                pb.ListAccessTokensRequest(include_inactive=include_inactive, **kw)
            )

        everything = [t.token_id for t in call().tokens]
        assert everything == sorted(everything, reverse=True)
        found = _all_pages(call, "tokens", page_size)
        assert [t.token_id for t in found] == everything
    first = stub.ListAccessTokens(pb.ListAccessTokensRequest(page_size=1))
    with pytest.raises(grpc.RpcError) as info:
        stub.ListAccessTokens(
            pb.ListAccessTokensRequest(
                include_inactive=True, page_size=1, page_token=first.next_page_token
            )
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in info.value.details()
