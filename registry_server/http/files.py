"""Registry-held files over the side port: signed download URLs, and the
response both they and the console's download links send.

GetArtifactDownloadUrls hands these URLs out when the artifact store cannot
presign (the local folder store), or when the client asks for the registry's
own (`from_registry`). Like an S3 presigned URL, one names one file and
carries its own credential: an HMAC-SHA256 over the file, the expiry and the
caller it was issued to, keyed with `$REGISTRY_DOWNLOAD_URL_KEY` (the same
on every replica; by default a random key per `serve`, shared by its
`--processes`). The file is then read as that caller through the domain, so a
grant taken away since (a hidden model) refuses it; a revoked token's URLs
work until they expire, as the store's presigned URLs do.

Beside DownloadArtifact, this is the way through the registry for what
speaks plain HTTP (curl, a browser, an older client given these URLs for a
folder store), with `Range: bytes=N-` for resuming. On the 2-core bench
machine (256 MiB from moto, bench/artifact_transfer.py) it takes about 0.45 s
to the gRPC stream's 0.55 s and a presigned URL's 0.38 s, and all three are
bound by CPU, not by waiting: after the store's first byte both cores are
busy, and the time is close to first byte + (CPU seconds of client, server
and store - first byte) / 2. Relaying costs the server about 0.2 CPU
seconds per 256 MiB, two thirds of it in the kernel (the second loopback
TCP hop's copies). Each of these was measured and changed neither the
server's CPU nor the time: reading 4 MiB from the store at a time instead of
1 MiB, reading ahead in a thread of its own while the event loop sends, a
4 MiB SO_SNDBUF, uvloop (256 KiB and 8 MiB reads were slower).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from registry_server.config import is_loopback
from registry_server.domain.access import AccessDenied, Caller, HiddenModel, Role
from registry_server.domain.artifacts import ArtifactService, Download
from registry_server.domain.errors import OutOfRange, RegistryError

log = logging.getLogger(__name__)

#: The side port's prefix for signed file URLs.
PREFIX = "/artifacts"
#: Environment variable holding the signing key (any string; the same on every replica).
KEY_ENV = "REGISTRY_DOWNLOAD_URL_KEY"

# gRPC codes as HTTP statuses (as the console answers them).
_STATUS = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "UNAVAILABLE": 503,
    "RESOURCE_EXHAUSTED": 429,
}
_RANGE = re.compile(r"bytes=(\d{1,19})-")


def new_key() -> str:
    """A random signing key (what `serve` uses when none is configured)."""
    return secrets.token_urlsafe(32)


def default_base(listen: str, port: int, grpc_listen: str) -> str | None:
    """``http://host:port`` of a side port listening on one address, or None
    when that address is no use to the gRPC port's clients: a wildcard
    (0.0.0.0, ::) names no address, and loopback while gRPC listens beyond
    it would send a remote client to its own machine."""
    host = listen.rpartition(":")[0].strip("[]")
    if host in ("", "0.0.0.0", "::"):
        return None
    if is_loopback(listen) and not is_loopback(grpc_listen):
        return None
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class _Signed:
    name: str
    version: int
    path: str
    expires: int
    caller: Caller


class UrlSigner:
    """Makes and checks signed side-port URLs for one server process.

    `base` (``http://host:port``, no trailing slash) is where clients reach
    the side port; None until it is known (or when it cannot be: a wildcard
    listen address and no `$REGISTRY_HTTP_PUBLIC_URL`), and then no URLs are
    made.
    """

    def __init__(self, key: str, base: str | None = None) -> None:
        self._key = hashlib.sha256(b"modelregistry download urls\0" + key.encode()).digest()
        self.base = base

    def _mac(self, s: _Signed) -> str:
        c = s.caller
        message = "\0".join(
            (
                "v1",
                s.name,
                str(s.version),
                s.path,
                str(s.expires),
                c.principal,
                c.role.label,
                "1" if c.authenticated else "0",
                "" if c.token_id is None else str(c.token_id),
            )
        )
        return _b64(hmac.new(self._key, message.encode(), hashlib.sha256).digest())

    def url(
        self, name: str, version: int, path: str, caller: Caller, expires_seconds: int
    ) -> str | None:
        """A URL for one file, valid `expires_seconds`; None without a base."""
        if self.base is None:
            return None
        signed = _Signed(name, version, path, int(time.time()) + expires_seconds, caller)
        query = {
            "e": str(signed.expires),
            "p": caller.principal,
            "r": caller.role.label,
            "a": "1" if caller.authenticated else "0",
            "t": "" if caller.token_id is None else str(caller.token_id),
            "s": self._mac(signed),
        }
        where = "/".join(
            urllib.parse.quote(part, safe="") for part in (name, str(version), *path.split("/"))
        )
        return f"{self.base}{PREFIX}/{where}?{urllib.parse.urlencode(query)}"

    def check(self, name: str, version: int, path: str, query: dict[str, str]) -> Caller | None:
        """The caller a URL was issued to, or None if its signature is wrong
        or it has expired."""
        try:
            expires = int(query["e"])
            token = query["t"]
            caller = Caller(
                principal=query["p"],
                role=Role[query["r"].upper()],
                authenticated=query["a"] == "1",
                token_id=int(token) if token else None,
            )
            given = query["s"]
        except (KeyError, ValueError):
            return None
        expected = self._mac(_Signed(name, version, path, expires, caller))
        if not hmac.compare_digest(expected, given) or expires < time.time():
            return None
        return caller


def _offset(request: Request) -> int:
    """The N of a `Range: bytes=N-` header, 0 without one. Other ranges are
    ignored: the whole file is sent, as RFC 9110 allows."""
    found = _RANGE.fullmatch(request.headers.get("range", "").strip())
    return 0 if found is None else int(found.group(1))


def _unsatisfiable(message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=416, headers={"Cache-Control": "no-store"})


def file_response(download: Download, offset: int = 0, attachment: bool = False) -> Response:
    """A file's bytes from `offset` (a 206 when above 0), with its sha256 in
    `X-Checksum-SHA256` (of the whole file)."""
    item = download.file
    headers = {
        "Content-Length": str(item.size - offset),
        "X-Checksum-SHA256": item.sha256,
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-store",
    }
    if attachment:
        filename = item.path.rsplit("/", 1)[-1]
        ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "file"
        headers["Content-Disposition"] = f'attachment; filename="{ascii_name}"'
    status = 200
    if offset:
        status = 206
        headers["Content-Range"] = f"bytes {offset}-{item.size - 1}/{item.size}"
    return StreamingResponse(
        download.chunks,
        status_code=status,
        media_type="application/octet-stream",
        headers=headers,
    )


def _close(chunks: Iterator[bytes]) -> None:
    """Release the store's response of a download that sends nothing."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def serve_file(
    request: Request,
    artifacts: ArtifactService,
    name: str,
    version: int,
    path: str,
    caller: Caller,
    *,
    attachment: bool = False,
) -> Response:
    """One file of a READY version as `caller` reads it, from the byte a
    `Range: bytes=N-` header asks for (206), else whole; the domain's
    RegistryError (no such file, refused) is the caller's to answer."""
    offset = _offset(request)
    try:
        download = artifacts.download(name, version, path, offset, caller)
    except OutOfRange as exc:
        return _unsatisfiable(exc.message)
    if offset and offset >= download.file.size:  # nothing left to send
        _close(download.chunks)
        return _unsatisfiable(f"the file has {download.file.size} bytes")
    return file_response(download, offset, attachment)


def _refusal(status: int, message: str) -> Response:
    return PlainTextResponse(
        message + "\n", status_code=status, headers={"Cache-Control": "no-store"}
    )


def file_routes(artifacts: ArtifactService, signer: UrlSigner) -> list[BaseRoute]:
    """The route that answers signed URLs (mounted before the console)."""

    def get_file(request: Request) -> Response:
        params = request.path_params
        name, version, path = params["name"], params["version"], params["path"]
        caller = signer.check(name, version, path, dict(request.query_params))
        if caller is None:
            return _refusal(403, "this download URL is not valid (wrong signature or expired)")
        try:
            return serve_file(request, artifacts, name, version, path, caller)
        except RegistryError as exc:
            if isinstance(exc, AccessDenied):  # written to the history, as by the RPCs
                artifacts.registry.access.record_denial(exc)
            elif isinstance(exc, HiddenModel):
                artifacts.registry.access.record_denial(exc.denial)
            if exc.code == "INTERNAL":
                raise
            return _refusal(_STATUS.get(exc.code, 500), exc.message)

    return [Route(PREFIX + "/{name}/{version:int}/{path:path}", get_file, methods=["GET"])]
