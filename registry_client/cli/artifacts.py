"""``registry artifacts`` and ``registry download``: files held by the registry."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._format import fmt_bytes, key_values, rows
from registry_client.cli._parsing import Result, add_name_version, command, group, positive_int
from registry_client.cli._progress import progress_bar
from registry_client.types import (
    ArtifactDownloadUrls,
    ArtifactFile,
    ArtifactListing,
    DownloadedModel,
)


def add(sub: Any) -> None:
    g = group(
        sub,
        "artifacts",
        "files held by the registry: list, upload, presigned URLs",
        "Inspect and upload the files of versions whose files the registry holds.\n"
        "`registry versions create NAME --artifacts DIR` and `registry download URI DIR`\n"
        "cover the usual cases; these commands are the single steps.",
        [
            "registry artifacts list models:/fraud-detector@champion",
            "registry artifacts upload fraud-detector 4 ./model.pkl --path weights/model.pkl",
        ],
    )
    p = command(
        g,
        "list",
        artifacts_list,
        "list the files of a version",
        "List the files (path, size, sha256) of a version, given as a models:/ URI or as\n"
        "NAME VERSION. A URI with a path lists only that file or folder. By NAME VERSION\n"
        "a pending version lists the files uploaded so far.",
        [
            "registry artifacts list models:/fraud-detector@champion",
            "registry artifacts list models:/fraud-detector/3/weights",
            "registry artifacts list fraud-detector 4",
        ],
    )
    p.add_argument("name_or_uri", metavar="URI|NAME", help="a models:/ URI, or a model name")
    p.add_argument(
        "version",
        metavar="VERSION",
        nargs="?",
        type=positive_int,
        default=None,
        help="version number (when the first argument is a name)",
    )

    p = command(
        g,
        "upload",
        artifacts_upload,
        "upload one file to a pending version",
        "Upload LOCAL_FILE to a version created with registry-held files that is still\n"
        "PENDING_REGISTRATION, as PATH inside the model (default: the file's name).\n"
        "Each path can be uploaded once. Finish with `registry versions finalize`.",
        [
            "registry artifacts upload fraud-detector 4 ./out/model.pkl --path weights/model.pkl",
        ],
    )
    add_name_version(p)
    p.add_argument("local_file", metavar="LOCAL_FILE", help="the file to upload")
    p.add_argument("--path", metavar="PATH", help="relative path inside the model, '/'-separated")

    p = command(
        g,
        "urls",
        artifacts_urls,
        "presigned download URLs",
        "Print presigned HTTP GET URLs for the files of a READY version (all of them\n"
        "unless --path), for tools that download over plain HTTP. Artifact stores that\n"
        "cannot presign (the local folder store) say so; use `registry download` then.",
        [
            "registry artifacts urls fraud-detector 3",
            "registry artifacts urls fraud-detector 3 --path model.pkl --expires-in 600",
        ],
    )
    add_name_version(p)
    p.add_argument(
        "--path",
        dest="paths",
        action="append",
        metavar="PATH",
        help="a file to presign; repeat for several (default: every file)",
    )
    p.add_argument(
        "--expires-in",
        type=positive_int,
        default=0,
        metavar="SECONDS",
        help="URL lifetime, up to 604800 (default: 3600)",
    )


def add_download(sub: Any) -> None:
    p = command(
        sub,
        "download",
        download,
        "download the files of a version",
        "Resolve a models:/ URI once and download that version's files into DST_DIR,\n"
        "checking each against the registry's size and sha256. Files keep their path\n"
        "inside the model, also when the URI names a folder or file: models:/m/3/weights\n"
        "writes DST_DIR/weights/... . Files already in DST_DIR with the right content\n"
        "are skipped; others are written to a temporary file and renamed into place\n"
        "only once verified. Presigned URLs are used when the server offers them\n"
        "(--no-presigned streams everything through the registry). A progress bar goes\n"
        "to stderr when it is a terminal.",
        [
            "registry download models:/fraud-detector@champion ./model",
            "registry download models:/fraud-detector/3/weights ./model --no-presigned",
        ],
    )
    p.add_argument("uri", metavar="URI", help="a models:/ URI")
    p.add_argument("dst_dir", metavar="DST_DIR", help="local folder (created if missing)")
    p.add_argument(
        "--no-presigned",
        dest="presigned",
        action="store_false",
        help="stream through the registry even if the store can presign URLs",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=4,
        metavar="N",
        help="parallel downloads (default: 4)",
    )


def artifacts_list(c: RegistryClient, a: argparse.Namespace) -> Result:
    listing = c.list_artifacts_with_version(a.name_or_uri, a.version)
    return Result(listing, listing_text(listing))


def artifacts_upload(c: RegistryClient, a: argparse.Namespace) -> Result:
    stored = c.upload_artifact(a.name, a.version, a.local_file, path=a.path)
    text = (
        f"Uploaded {stored.path!r} ({fmt_bytes(stored.size)}, sha256 {stored.sha256}) "
        f"to version {a.version} of model {a.name!r}."
    )
    return Result({"name": a.name, "version": a.version, "file": stored}, text)


def artifacts_urls(c: RegistryClient, a: argparse.Namespace) -> Result:
    urls = c.get_artifact_download_urls(
        a.name, a.version, paths=a.paths or (), expires_in_seconds=a.expires_in
    )
    return Result(urls, urls_text(urls))


def download(c: RegistryClient, a: argparse.Namespace) -> Result:
    with progress_bar("downloading") as bar:
        result = c.download_artifacts(
            a.uri,
            a.dst_dir,
            max_workers=a.workers,
            prefer_presigned=a.presigned,
            progress=bar,
        )
    return Result(result, downloaded_text(result))


def files_table(files: Sequence[ArtifactFile], state: Mapping[str, str] | None = None) -> str:
    headers = ["PATH", "SIZE", "SHA256"]
    if state is not None:
        headers.insert(2, "STATE")
    body = []
    for f in files:
        row = [f.path, fmt_bytes(f.size), f.sha256]
        if state is not None:
            row.insert(2, state.get(f.path, ""))
        body.append(row)
    return rows(headers, body, "(no files)", full_last=True)


def listing_text(listing: ArtifactListing) -> str:
    mv = listing.model_version
    total = sum(f.size for f in listing.files)
    head = key_values(
        [
            ("version", mv.uri),
            ("status", mv.status),
            ("files", f"{len(listing.files)} ({fmt_bytes(total)})"),
        ]
    )
    return head + "\n\n" + files_table(listing.files)


def downloaded_text(result: DownloadedModel) -> str:
    mv = result.model_version
    total = sum(f.size for f in result.files)
    head = key_values(
        [
            ("version", mv.uri),
            ("local_dir", result.local_dir),
            (
                "files",
                f"{len(result.files)} ({fmt_bytes(total)}): {len(result.downloaded)} downloaded, "
                f"{len(result.skipped)} already present",
            ),
        ]
    )
    state = {p: "downloaded" for p in result.downloaded} | {p: "present" for p in result.skipped}
    return head + "\n\n" + files_table(result.files, state)


def urls_text(result: ArtifactDownloadUrls) -> str:
    if not result.supported:
        return (
            "(the registry's artifact store cannot presign URLs; "
            "use `registry download` to stream the files)"
        )
    return rows(
        ("PATH", "SIZE", "URL"),
        [(u.file.path, fmt_bytes(u.file.size), u.url) for u in result.urls],
        "(no files)",
        full_last=True,
    )
