"""DownloadArtifactResponse written and read by hand (registry_api/wire.py)
must agree with the generated class byte for byte, in both directions."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.wire import decode_download, encode_download, passthrough_or_serialize

# Around the varint length boundaries (1, 2 and 3 bytes) and a full chunk.
SIZES = [0, 1, 127, 128, 16383, 16384, 1 << 20]
ENTRY = pb.ArtifactFile(path="weights/model.bin", size=123, sha256="ab" * 32)


def _chunk(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("with_file", [False, True])
def test_encoding_is_what_the_generated_class_serializes(size: int, with_file: bool) -> None:
    chunk = _chunk(size)
    file = ENTRY if with_file else None
    expected = pb.DownloadArtifactResponse(chunk=chunk, file=file).SerializeToString()
    assert encode_download(chunk, file) == expected
    parsed = pb.DownloadArtifactResponse.FromString(encode_download(chunk, file))
    assert parsed.chunk == chunk
    assert parsed.HasField("file") is with_file


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("with_file", [False, True])
def test_decoding_reads_what_the_generated_class_serializes(size: int, with_file: bool) -> None:
    chunk = _chunk(size)
    data = pb.DownloadArtifactResponse(
        chunk=chunk, file=ENTRY if with_file else None
    ).SerializeToString()
    piece = decode_download(data)
    assert bytes(piece.chunk) == chunk
    assert piece.file == (ENTRY if with_file else None)


def test_a_full_chunk_is_read_in_place_without_a_copy() -> None:
    data = encode_download(_chunk(1 << 20), ENTRY)
    piece = decode_download(data)
    assert isinstance(piece.chunk, memoryview)
    assert piece.chunk.obj is data


def test_an_empty_manifest_entry_is_still_present() -> None:
    data = pb.DownloadArtifactResponse(file=pb.ArtifactFile()).SerializeToString()
    assert data == encode_download(b"", pb.ArtifactFile())
    assert decode_download(data).file == pb.ArtifactFile()
    assert decode_download(b"").file is None


@pytest.mark.parametrize(
    "data",
    [
        # The file before the chunk: valid, another encoder's order.
        encode_download(b"", ENTRY) + encode_download(b"xyz"),
        # A field this client does not know (a newer server): skipped.
        encode_download(b"xyz", ENTRY) + b"\x1a\x03new",
        # The chunk field twice: protobuf keeps the last one.
        encode_download(b"old") + encode_download(b"xyz", ENTRY),
        # The entry twice: protobuf merges the two.
        encode_download(b"xyz", pb.ArtifactFile(path="p"))
        + encode_download(b"", pb.ArtifactFile(size=3)),
    ],
    ids=["reordered", "unknown-field", "repeated-chunk", "repeated-file"],
)
def test_any_valid_encoding_decodes_as_the_generated_class_does(data: bytes) -> None:
    expected = pb.DownloadArtifactResponse.FromString(data)
    piece = decode_download(data)
    assert bytes(piece.chunk) == expected.chunk == b"xyz"
    assert piece.file == (expected.file if expected.HasField("file") else None)


def test_a_truncated_message_is_an_error_not_a_short_chunk() -> None:
    data = encode_download(b"0123456789")[:-1]
    with pytest.raises(DecodeError):
        decode_download(data)


def test_the_server_serializer_passes_bytes_and_serializes_messages() -> None:
    message = pb.DownloadArtifactResponse(chunk=b"abc", file=ENTRY)
    assert passthrough_or_serialize(message) == message.SerializeToString()
    encoded = encode_download(b"abc", ENTRY)
    assert passthrough_or_serialize(encoded) is encoded
