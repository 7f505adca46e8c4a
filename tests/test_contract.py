"""The .proto is the contract: generated code is fresh, every RPC is documented,
every element carries a comment, and the facts on each RPC (registry_api/rpcs.py)
agree with what the server does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grpc_tools
import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc
from support.access import MATRIX

from registry_api.rpcs import ROLES, RPCS, RPCS_BY_PATH, SERVICE, RpcFacts, facts_of
from registry_server.api.pools import READ_METHODS

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "protos" / "modelregistry" / "v1" / "registry.proto"


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_rpc_documents_its_status_codes() -> None:
    text = PROTO.read_text()
    rpcs = re.findall(r"((?:\s*//[^\n]*\n)+)\s*rpc (\w+)\(", text)
    assert len(rpcs) == len(SERVICE.methods)
    codes = (
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
    )
    for comment, name in rpcs:
        assert any(code in comment for code in codes), f"{name} lists no status codes"
        # Access control is part of each RPC's contract.
        assert "Role:" in comment or "Needs no role" in comment, f"{name} states no role"


def _source_info(tmp_path: Path) -> descriptor_pb2.FileDescriptorSet:
    out = tmp_path / "registry.binpb"
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT / 'protos'}",
        f"-I{well_known}",
        "--include_source_info",
        f"--descriptor_set_out={out}",
        str(PROTO.relative_to(ROOT / "protos")),
    ]
    assert protoc.main(args) == 0
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _elements(file: descriptor_pb2.FileDescriptorProto) -> list[tuple[str, tuple[int, ...]]]:
    """(name, source path) of every message, field, oneof, enum, enum value,
    service, RPC and extension, per descriptor.proto's field numbers."""
    found: list[tuple[str, tuple[int, ...]]] = []

    def enum(e: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...]) -> None:
        found.append((e.name, path))
        for i, value in enumerate(e.value):
            found.append((f"{e.name}.{value.name}", (*path, 2, i)))

    def message(m: descriptor_pb2.DescriptorProto, path: tuple[int, ...], prefix: str) -> None:
        name = f"{prefix}{m.name}"
        found.append((name, path))
        for i, field in enumerate(m.field):
            found.append((f"{name}.{field.name}", (*path, 2, i)))
        for i, oneof in enumerate(m.oneof_decl):
            if not oneof.name.startswith("_"):  # synthetic oneof of `optional`
                found.append((f"{name}.{oneof.name}", (*path, 8, i)))
        for i, nested in enumerate(m.nested_type):
            message(nested, (*path, 3, i), f"{name}.")
        for i, nested_enum in enumerate(m.enum_type):
            enum(nested_enum, (*path, 4, i))

    for i, m in enumerate(file.message_type):
        message(m, (4, i), "")
    for i, e in enumerate(file.enum_type):
        enum(e, (5, i))
    for i, service in enumerate(file.service):
        found.append((service.name, (6, i)))
        for j, method in enumerate(service.method):
            found.append((f"{service.name}.{method.name}", (6, i, 2, j)))
    for i, extension in enumerate(file.extension):
        found.append((extension.name, (7, i)))
    return found


def test_every_element_of_the_proto_has_a_comment(tmp_path: Path) -> None:
    (file,) = _source_info(tmp_path).file
    commented = {
        tuple(location.path)
        for location in file.source_code_info.location
        if location.leading_comments.strip()
    }
    elements = _elements(file)
    assert len(elements) > 300
    missing = [name for name, path in elements if path not in commented]
    assert missing == []


def test_enum_values_carry_their_enums_prefix(tmp_path: Path) -> None:
    (file,) = _source_info(tmp_path).file
    enums = list(file.enum_type)
    for m in file.message_type:
        enums.extend(m.enum_type)
    assert enums
    for e in enums:
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", e.name).upper() + "_"
        assert e.value[0].name == prefix + "UNSPECIFIED"
        for value in e.value:
            assert value.name.startswith(prefix), value.name


def test_every_list_rpc_pages() -> None:
    for method in SERVICE.methods:
        if not method.name.startswith(("List", "Search", "Find")):
            continue
        request, response = method.input_type.fields_by_name, method.output_type.fields_by_name
        assert "page_size" in request, method.name
        if method.name == "ListModelEvents":  # pages by event id, a cursor of its own
            assert "after_event_id" in request and "next_after_event_id" in response
            continue
        assert "page_token" in request and "next_page_token" in response, method.name


# ------------------------------------------------------------------ RPC facts


def test_every_rpc_has_its_facts() -> None:
    assert list(RPCS) == [m.name for m in SERVICE.methods]
    for method in SERVICE.methods:
        facts = RPCS[method.name]
        assert facts.full_method == f"/modelregistry.v1.ModelRegistry/{method.name}"
        assert RPCS_BY_PATH[facts.full_method] is facts
        assert facts.client_streaming == method.client_streaming
        assert facts.server_streaming == method.server_streaming
        assert facts.role in ROLES
        assert facts.retry_safe or not facts.read_only
    assert RPCS["UploadArtifact"].client_streaming and RPCS["DownloadArtifact"].server_streaming


def test_a_method_without_a_policy_is_refused() -> None:
    bare = descriptor_pb2.MethodOptions()
    method = SERVICE.methods_by_name["WhoAmI"]

    class Bare:
        name = method.name
        full_name = method.full_name

        @staticmethod
        def GetOptions() -> descriptor_pb2.MethodOptions:
            return bare

    with pytest.raises(ValueError, match="rpc_policy"):
        facts_of(Bare)  # type: ignore[arg-type]


def test_the_read_pool_takes_only_unary_reads() -> None:
    assert {name for name, facts in RPCS.items() if facts.read_pool} == READ_METHODS
    assert len(READ_METHODS) >= 16
    for name in READ_METHODS:
        facts = RPCS[name]
        assert facts.read_only, name
        assert not facts.client_streaming and not facts.server_streaming, name
    # Reads that hold their thread (streams) or talk to the artifact store stay off it.
    assert not RPCS["DownloadArtifact"].read_pool
    assert not RPCS["GetArtifactDownloadUrls"].read_pool


def test_roles_and_side_effects_agree_with_the_access_matrix() -> None:
    """support.access.MATRIX checks each RPC's role against the running server (in
    test_access_matrix.py); the .proto's rpc_policy must say the same."""
    assert sorted(MATRIX) == sorted(RPCS)
    for name, row in MATRIX.items():
        facts = RPCS[name]
        assert facts.role == row.needed, name
        assert facts.global_role == (row.scope == "global"), name
        assert facts.read_only == (not row.mutation), name


def test_retry_safety_is_what_the_proto_says() -> None:
    # A repeat of these would fail or do it twice.
    never_retried = {name for name, facts in RPCS.items() if not facts.retry_safe}
    assert never_retried == {
        "CreateRegisteredModel",
        "RenameRegisteredModel",
        "DeleteRegisteredModel",
        "DeleteRegisteredModelTag",
        "DeleteModelVersion",
        "DeleteModelVersionTag",
        "DeleteRegisteredModelAlias",
        "FinalizeModelVersion",
        "DeleteModelGrant",
        "CreateAccessToken",
        "CreateWebhook",
        "DeleteWebhook",
        "TestWebhook",
    }
    assert RPCS["GetModelVersion"] == RpcFacts(
        name="GetModelVersion",
        full_method="/modelregistry.v1.ModelRegistry/GetModelVersion",
        client_streaming=False,
        server_streaming=False,
        read_only=True,
        retry_safe=True,
        role="reader",
        global_role=False,
        read_pool=True,
    )
