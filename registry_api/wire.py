"""DownloadArtifactResponse on the wire, without protobuf objects in between.

A streamed download moves the file in 1 MiB `chunk` fields. Through the
generated classes every chunk is copied four times besides gRPC's own
copies: into the message and out of it by serialization on the server, into
the parsed message and out of it (`message.chunk`) on the client. On the
2-core bench machine, where client, server and S3 share the CPUs, those
copies were a third of the client's CPU for a 256 MiB download.

So the server writes the message bytes itself (`encode_download`: the field
tag, the length, the chunk: one copy) and the client reads the chunk as a
memoryview into the received bytes (`decode_download`: no copy). Both follow
protobuf's wire format for the message in `registry.proto`, which is stable
by protobuf's rules; the tests check both against the generated class. A
message the decoder does not expect (a future field, another encoder's
field order) goes through the generated class instead, so any valid
encoding is understood.
"""

from __future__ import annotations

from typing import NamedTuple

from google.protobuf.message import Message

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb

# Field numbers of DownloadArtifactResponse, with wire type 2 (length-delimited).
_CHUNK_TAG = 0x0A  # field 1, bytes chunk
_FILE_TAG = 0x12  # field 2, ArtifactFile file


class DownloadPiece(NamedTuple):
    """One DownloadArtifactResponse: the manifest entry (first message only)
    and the next bytes of the file."""

    file: pb.ArtifactFile | None
    chunk: memoryview | bytes


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_download(chunk: bytes, file: pb.ArtifactFile | None = None) -> bytes:
    """The serialized DownloadArtifactResponse carrying `chunk` (and `file`)."""
    parts = []
    if chunk:
        parts += [bytes((_CHUNK_TAG,)), _varint(len(chunk)), chunk]
    if file is not None:
        header = file.SerializeToString()
        parts += [bytes((_FILE_TAG,)), _varint(len(header)), header]
    return b"".join(parts)


def passthrough_or_serialize(message: bytes | Message) -> bytes:
    """Response serializer for DownloadArtifact and WatchModelEvents: bytes
    made beforehand (`encode_download`, a watch event encoded once for every
    stream) go out as they are; a message is serialized."""
    if isinstance(message, bytes):
        return message
    return message.SerializeToString()


class _Unexpected(Exception):
    """Not the two fields in the shape encode_download writes."""


def _read_varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Unexpected
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def decode_download(data: bytes) -> DownloadPiece:
    """Response deserializer for DownloadArtifact."""
    view = memoryview(data)
    try:
        return _decode_fast(view)
    except _Unexpected:
        message = pb.DownloadArtifactResponse.FromString(data)
        return DownloadPiece(message.file if message.HasField("file") else None, message.chunk)


def _decode_fast(view: memoryview) -> DownloadPiece:
    chunk: memoryview | bytes = b""
    file: pb.ArtifactFile | None = None
    at = 0
    seen: set[int] = set()
    while at < len(view):
        tag = view[at]
        if tag not in (_CHUNK_TAG, _FILE_TAG) or tag in seen:
            # Another field, a multi-byte tag, or a repeated field (which
            # protobuf merges): leave it to the generated parser.
            raise _Unexpected
        seen.add(tag)
        length, at = _read_varint(view, at + 1)
        end = at + length
        if end > len(view):
            raise _Unexpected
        if tag == _CHUNK_TAG:
            chunk = view[at:end]
        else:
            file = pb.ArtifactFile.FromString(view[at:end].tobytes())
        at = end
    return DownloadPiece(file, chunk)
