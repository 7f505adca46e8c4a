"""``registry``: the model registry from the command line.

Built on ``RegistryClient`` alone, so the CLI exercises exactly the API that
Python users get and cannot grow behaviour of its own.

Exit codes are part of the interface for shell scripts: 0 success, 1 the
registry refused or failed the call (the reason goes to stderr as
``error: CODE: message``), 2 bad command line. stdout carries only the result
(one JSON document with ``--output json``); hints for people, such as the next
page's token, and progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from registry_client import _commands as cmd
from registry_client import _output as out
from registry_client._client import RegistryClient
from registry_client._errors import RegistryError
from registry_client.tls import TlsArgumentError

__all__ = ["RPC_COMMANDS", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: RPC name -> CLI command (with the option selecting the RPC, if any). Lets a
#: test check that every RPC of the service is reachable from the command line.
RPC_COMMANDS: dict[str, str] = {
    "CreateRegisteredModel": "models create",
    "GetRegisteredModel": "models get",
    "UpdateRegisteredModel": "models update",
    "RenameRegisteredModel": "models rename",
    "DeleteRegisteredModel": "models delete",
    "SetRegisteredModelTag": "models set-tag",
    "DeleteRegisteredModelTag": "models delete-tag",
    "GetLatestVersions": "models latest",
    "CreateModelVersion": "versions create",
    "GetModelVersion": "versions get",
    "UpdateModelVersion": "versions update",
    "DeleteModelVersion": "versions delete",
    "TransitionModelVersionStage": "versions transition",
    "SetModelVersionTag": "versions set-tag",
    "DeleteModelVersionTag": "versions delete-tag",
    "SetRegisteredModelAlias": "aliases set",
    "DeleteRegisteredModelAlias": "aliases delete",
    "GetModelVersionByAlias": "aliases get",
    "ResolveModelUri": "resolve",
    "SearchRegisteredModels": "search models",
    "SearchModelVersions": "search versions",
    "FindModelVersionsByRun": "lineage by-run",
    "FindModelVersionsByDataset": "lineage by-dataset",
    "GetModelVersionLineage": "lineage show",
    "ListModelEvents": "history",
    "GetModelStateAsOf": "history --as-of",
    "UploadArtifact": "artifacts upload",
    "FinalizeModelVersion": "versions finalize",
    "AbortModelVersion": "versions abort",
    "ListArtifacts": "artifacts list",
    "DownloadArtifact": "download",
    "GetArtifactDownloadUrls": "artifacts urls",
    "SetModelProtection": "access protect",
    "SetModelGrant": "access grant",
    "DeleteModelGrant": "access ungrant",
    "ListModelGrants": "access grants",
    "CreateAccessToken": "tokens create",
    "ListAccessTokens": "tokens list",
    "RevokeAccessToken": "tokens revoke",
    "WhoAmI": "whoami",
}


# -- parser --------------------------------------------------------------------------


def _examples(*lines: str) -> str:
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)


def _group(sub: Any, name: str, help: str, description: str, examples: Sequence[str]) -> Any:
    parser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=_examples(*examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.add_subparsers(dest="command", metavar="COMMAND", required=True)


def _command(
    sub: Any,
    name: str,
    handler: cmd.Handler,
    help: str,
    description: str,
    examples: Sequence[str],
    *,
    check: cmd.Check | None = None,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=_examples(*examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The parser itself is kept so that `check` failures are reported with
    # this command's usage line, like argparse's own errors.
    parser.set_defaults(handler=handler, check=check, command_parser=parser)
    return parser


def _add_models(sub: Any) -> None:
    g = _group(
        sub,
        "models",
        "registered models: create, inspect, rename, tag, delete",
        "Manage registered models, the named containers of numbered versions.",
        [
            "registry models create fraud-detector --tag team=risk",
            "registry models get fraud-detector",
        ],
    )
    p = _command(
        g,
        "create",
        cmd.models_create,
        "create a model",
        "Create a registered model with no versions. Fails if the name is taken.",
        ['registry models create fraud-detector --description "Card fraud" --tag team=risk'],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("--description", default=None, help="free text, up to 64 KiB")
    cmd.add_tag_option(p)

    p = _command(
        g,
        "get",
        cmd.models_get,
        "show a model",
        "Show a model with its tags, aliases and the latest version in each stage.",
        ["registry models get fraud-detector", "registry --output json models get fraud-detector"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")

    p = _command(
        g,
        "update",
        cmd.models_update,
        "replace a model's description",
        "Replace a model's description; an empty string clears it.",
        ['registry models update fraud-detector --description "Card fraud, EU only"'],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("--description", required=True, help="the new description")

    p = _command(
        g,
        "rename",
        cmd.models_rename,
        "rename a model",
        "Rename a model. Versions, aliases, tags and history follow it; models:/ URIs\n"
        "using the old name stop resolving.",
        ["registry models rename fraud-detector fraud-detector-eu"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("new_name", metavar="NEW_NAME", help="the new name")

    p = _command(
        g,
        "delete",
        cmd.models_delete,
        "delete a model and all its versions",
        "Delete a model with all its versions, aliases and tags. Its history stays\n"
        "readable with `registry history NAME`.",
        ["registry models delete fraud-detector"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")

    p = _command(
        g,
        "set-tag",
        cmd.models_set_tag,
        "set a tag on a model",
        "Add a tag to a model, or overwrite its value.",
        ["registry models set-tag fraud-detector owner alice"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("key", metavar="KEY", help="tag key")
    p.add_argument("value", metavar="VALUE", help="tag value")

    p = _command(
        g,
        "delete-tag",
        cmd.models_delete_tag,
        "delete a tag from a model",
        "Delete a tag from a model. Fails if the tag does not exist.",
        ["registry models delete-tag fraud-detector owner"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("key", metavar="KEY", help="tag key")

    p = _command(
        g,
        "latest",
        cmd.models_latest,
        "latest version per stage",
        "Show the highest-numbered version in each stage (all stages unless --stage).",
        [
            "registry models latest fraud-detector",
            "registry models latest fraud-detector --stage Production",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument(
        "--stage",
        dest="stages",
        action="append",
        metavar="STAGE",
        help="None, Staging, Production or Archived (any case); repeat for several",
    )


def _add_versions(sub: Any) -> None:
    g = _group(
        sub,
        "versions",
        "model versions: create, inspect, promote, tag, delete",
        "Manage the numbered versions of a model and move them between stages.",
        [
            "registry versions create fraud-detector --source s3://models/fraud/42 --run-id run-42",
            "registry versions transition fraud-detector 3 Production --archive-existing",
        ],
    )
    p = _command(
        g,
        "create",
        cmd.versions_create,
        "register a new version",
        "Create the next version of a model, with optional lineage, either pointing at\n"
        "files kept elsewhere (--source) or uploading a local folder for the registry to\n"
        "hold (--artifacts). With --artifacts the files are uploaded in parallel, each\n"
        "read once and hashed as it is sent, and the sizes and sha256 the server stored\n"
        "must match before the version turns READY; if anything fails (a file that\n"
        "changes while it uploads included) the version is aborted. A progress bar goes\n"
        "to stderr when it is a terminal.\n"
        "Re-running with the same --idempotency-key returns the version created the\n"
        "first time instead of a new one (useful for retried CI jobs); with --artifacts\n"
        "it also resumes an upload a crashed run left unfinished.",
        [
            "registry versions create fraud-detector --source s3://models/fraud/42 \\",
            "    --run-id run-42 --experiment-id exp-7 --code-version 3f2a9c1 \\",
            "    --dataset name=tx-2026q1,digest=sha256:ab12,source=s3://data/tx/2026q1/ \\",
            "    --parent models:/fraud-detector@champion --tag framework=xgboost",
            "registry versions create fraud-detector --artifacts ./model-out --run-id run-42 \\",
            "    --idempotency-key ci-build-1234",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--source", metavar="URI", help="where the version's files are")
    where.add_argument(
        "--artifacts", metavar="DIR", help="upload the files under DIR for the registry to hold"
    )
    p.add_argument("--run-id", help="training run that produced the version")
    p.add_argument("--run-link", metavar="URL", help="link to the run in a tracking UI")
    p.add_argument("--experiment-id", help="experiment the run belongs to")
    p.add_argument("--code-version", help="version of the training code, e.g. a git commit")
    p.add_argument("--description", help="free text, up to 64 KiB")
    cmd.add_tag_option(p)
    p.add_argument(
        "--dataset",
        dest="datasets",
        action="append",
        type=cmd.dataset,
        metavar="name=N,digest=D,source=URI",
        help="a training data set (any subset of the keys); repeat for several",
    )
    p.add_argument(
        "--parent", metavar="URI", help="models:/ URI of the version this one derives from"
    )
    p.add_argument("--idempotency-key", metavar="KEY", help="makes re-runs return the same version")
    p.add_argument(
        "--workers",
        type=cmd.positive_int,
        default=4,
        metavar="N",
        help="parallel uploads with --artifacts (default: 4)",
    )

    p = _command(
        g,
        "finalize",
        cmd.versions_finalize,
        "make a pending version READY",
        "Finalize a version created with registry-held files whose files were uploaded\n"
        "one by one (`registry artifacts upload`): the manifest of the local folder DIR\n"
        "(every file, its path relative to DIR, size and sha256) must match the uploaded\n"
        "files exactly, then the version turns READY and is frozen. On a mismatch the\n"
        "command fails naming the file and the version stays pending.",
        ["registry versions finalize fraud-detector 4 --manifest-from ./model-out"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument(
        "--manifest-from",
        required=True,
        metavar="DIR",
        help="local folder holding the same files as were uploaded",
    )

    p = _command(
        g,
        "abort",
        cmd.versions_abort,
        "give up on a pending version",
        "Mark a pending version FAILED_REGISTRATION and delete its uploaded files. READY\n"
        "versions cannot be aborted (delete them instead).",
        ['registry versions abort fraud-detector 4 --reason "training data was wrong"'],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument("--reason", default="", help="kept as the version's status message")

    p = _command(
        g,
        "get",
        cmd.versions_get,
        "show a version",
        "Show one version with its stage, status, aliases, tags and lineage.",
        ["registry versions get fraud-detector 3"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")

    p = _command(
        g,
        "update",
        cmd.versions_update,
        "replace a version's description",
        "Replace a version's description; an empty string clears it.",
        ['registry versions update fraud-detector 3 --description "Retrained on Q1 data"'],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument("--description", required=True, help="the new description")

    p = _command(
        g,
        "delete",
        cmd.versions_delete,
        "delete a version",
        "Delete a version and the aliases pointing at it. Its number is never reused.",
        ["registry versions delete fraud-detector 3"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")

    p = _command(
        g,
        "set-tag",
        cmd.versions_set_tag,
        "set a tag on a version",
        "Add a tag to a version, or overwrite its value.",
        ["registry versions set-tag fraud-detector 3 validated true"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument("key", metavar="KEY", help="tag key")
    p.add_argument("value", metavar="VALUE", help="tag value")

    p = _command(
        g,
        "delete-tag",
        cmd.versions_delete_tag,
        "delete a tag from a version",
        "Delete a tag from a version. Fails if the tag does not exist.",
        ["registry versions delete-tag fraud-detector 3 validated"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument("key", metavar="KEY", help="tag key")

    p = _command(
        g,
        "transition",
        cmd.versions_transition,
        "move a version to a stage",
        "Move a version to a stage: None, Staging, Production or Archived (any case).\n"
        "Only READY versions can enter Staging or Production.",
        [
            "registry versions transition fraud-detector 3 Staging",
            "registry versions transition fraud-detector 3 production --archive-existing",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument("stage", metavar="STAGE", help="None, Staging, Production or Archived")
    p.add_argument(
        "--archive-existing",
        action="store_true",
        help="archive the versions already in STAGE, atomically (Staging/Production only)",
    )

    p = _command(
        g,
        "by-run",
        cmd.lineage_by_run,
        "versions produced by a run (= lineage by-run)",
        "List the versions, across all models, produced by a training run; newest first.\n"
        "Kept for scripts written before `registry lineage by-run`, which it equals.",
        ["registry versions by-run run-42"],
    )
    p.add_argument("run_id", metavar="RUN_ID", help="training run id")


def _add_aliases(sub: Any) -> None:
    g = _group(
        sub,
        "aliases",
        "aliases: named pointers to versions (champion, canary, ...)",
        "Manage aliases, movable names for versions usable as models:/NAME@ALIAS.",
        [
            "registry aliases set fraud-detector champion 3",
            "registry aliases get fraud-detector champion",
        ],
    )
    p = _command(
        g,
        "set",
        cmd.aliases_set,
        "point an alias at a version",
        "Create an alias or move it to VERSION, atomically. With --expected-version or\n"
        "--must-not-exist the change only happens if the alias is where you think it\n"
        "is; otherwise the command fails with FAILED_PRECONDITION and changes nothing.",
        [
            "registry aliases set fraud-detector champion 4 --expected-version 3",
            "registry aliases set fraud-detector canary 4 --must-not-exist",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("alias", metavar="ALIAS", help="alias name, e.g. champion")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    cas = p.add_mutually_exclusive_group()
    cas.add_argument(
        "--expected-version",
        type=cmd.non_negative_int,
        metavar="N",
        help="only if the alias currently points at version N (0: does not exist)",
    )
    cas.add_argument(
        "--must-not-exist", action="store_true", help="only if the alias does not exist yet"
    )

    p = _command(
        g,
        "get",
        cmd.aliases_get,
        "show the version an alias points at",
        "Show the version an alias points at.",
        ["registry aliases get fraud-detector champion"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("alias", metavar="ALIAS", help="alias name, e.g. champion")

    p = _command(
        g,
        "delete",
        cmd.aliases_delete,
        "delete an alias",
        "Delete an alias; the version it pointed at is unaffected.",
        ["registry aliases delete fraud-detector canary"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("alias", metavar="ALIAS", help="alias name, e.g. champion")


def _add_artifacts(sub: Any) -> None:
    g = _group(
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
    p = _command(
        g,
        "list",
        cmd.artifacts_list,
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
        type=cmd.positive_int,
        default=None,
        help="version number (when the first argument is a name)",
    )

    p = _command(
        g,
        "upload",
        cmd.artifacts_upload,
        "upload one file to a pending version",
        "Upload LOCAL_FILE to a version created with registry-held files that is still\n"
        "PENDING_REGISTRATION, as PATH inside the model (default: the file's name).\n"
        "Each path can be uploaded once. Finish with `registry versions finalize`.",
        [
            "registry artifacts upload fraud-detector 4 ./out/model.pkl --path weights/model.pkl",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument("local_file", metavar="LOCAL_FILE", help="the file to upload")
    p.add_argument("--path", metavar="PATH", help="relative path inside the model, '/'-separated")

    p = _command(
        g,
        "urls",
        cmd.artifacts_urls,
        "presigned download URLs",
        "Print presigned HTTP GET URLs for the files of a READY version (all of them\n"
        "unless --path), for tools that download over plain HTTP. Artifact stores that\n"
        "cannot presign (the local folder store) say so; use `registry download` then.",
        [
            "registry artifacts urls fraud-detector 3",
            "registry artifacts urls fraud-detector 3 --path model.pkl --expires-in 600",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument(
        "--path",
        dest="paths",
        action="append",
        metavar="PATH",
        help="a file to presign; repeat for several (default: every file)",
    )
    p.add_argument(
        "--expires-in",
        type=cmd.positive_int,
        default=0,
        metavar="SECONDS",
        help="URL lifetime, up to 604800 (default: 3600)",
    )


def _add_search_options(p: argparse.ArgumentParser, fields: str, order_keys: str) -> None:
    p.add_argument(
        "--filter",
        metavar="FILTER",
        default=None,
        # argparse %-formats help strings: a LIKE pattern's % must be doubled.
        help=f"e.g. {fields.replace('%', '%%')} (default: everything)",
    )
    p.add_argument(
        "--order-by",
        dest="order_by",
        action="append",
        metavar="KEY",
        help=f"{order_keys}, each optionally followed by ASC or DESC; repeat for up to 3",
    )
    p.add_argument(
        "--max-results",
        type=cmd.positive_int,
        default=100,
        metavar="N",
        help="results per page, up to 1000 (default: 100); with --all, the size of each page",
    )
    pages = p.add_mutually_exclusive_group()
    pages.add_argument(
        "--page-token",
        metavar="TOKEN",
        help="continue after the page that printed this token",
    )
    pages.add_argument(
        "--all", action="store_true", help="fetch every page instead of one (no token printed)"
    )


_SEARCH_PAGES = (
    "One page per call: when more results remain, the token for the next page goes\n"
    "to stderr (table) or is next_page_token (JSON, null on the last page)."
)
_GRAMMAR = (
    "Filters use MLflow's grammar plus OR and parentheses: comparisons such as\n"
    "name LIKE 'fraud%', tags.team = 'risk' or alias = 'champion', joined with AND/OR.\n"
    "Quote the whole filter for the shell; see the README's Search section."
)


def _add_search(sub: Any) -> None:
    g = _group(
        sub,
        "search",
        "find models and versions with a filter",
        "Search registered models or versions with a filter, sorted and paged.\n\n" + _GRAMMAR,
        [
            "registry search models --filter \"tags.team = 'risk'\"",
            "registry search versions --filter \"alias = 'champion'\" --all",
        ],
    )
    p = _command(
        g,
        "models",
        cmd.search_models,
        "search registered models",
        "List registered models matching --filter (fields: name, tags.KEY, alias,\n"
        "description, creation_timestamp, last_updated_timestamp), by name unless\n"
        "--order-by.\n\n" + _GRAMMAR + "\n\n" + _SEARCH_PAGES,
        [
            "registry search models --filter \"name LIKE 'fraud%' AND tags.team = 'risk'\"",
            "registry search models --order-by 'last_updated_timestamp DESC' --max-results 10",
            "registry --output json search models --filter \"alias = 'champion'\" --all",
            "registry search models --filter \"name LIKE 'fraud%'\" --page-token TOKEN",
        ],
    )
    _add_search_options(
        p,
        "\"name LIKE 'fraud%' AND tags.team = 'risk'\"",
        "name, creation_timestamp or last_updated_timestamp",
    )

    p = _command(
        g,
        "versions",
        cmd.search_versions,
        "search model versions across models",
        "List versions, across models, matching --filter (fields: name, version_number,\n"
        "run_id, source_path, current_stage, status, description, tags.KEY, alias,\n"
        "dataset.digest, dataset.name, creation_timestamp, last_updated_timestamp); by\n"
        "model name, then newest version first, unless --order-by.\n\n"
        + _GRAMMAR
        + "\n\n"
        + _SEARCH_PAGES,
        [
            "registry search versions --filter \"name = 'fraud-detector' AND current_stage = "
            "'Production'\"",
            "registry search versions --filter \"dataset.digest = 'sha256:ab12'\" --all",
            "registry search versions --filter \"tags.validated = 'true'\" "
            "--order-by 'creation_timestamp DESC'",
        ],
    )
    _add_search_options(
        p,
        "\"name = 'fraud-detector' AND tags.validated = 'true'\"",
        "name, version_number, creation_timestamp or last_updated_timestamp",
    )


def _add_lineage(sub: Any) -> None:
    g = _group(
        sub,
        "lineage",
        "where versions came from: runs, data sets, parent versions",
        "Follow lineage: the versions a training run produced, the versions trained on\n"
        "a data set, and a version's ancestors and descendants through parent links.",
        [
            "registry lineage by-dataset sha256:ab12",
            "registry lineage show fraud-detector 3",
        ],
    )
    p = _command(
        g,
        "by-run",
        cmd.lineage_by_run,
        "versions produced by a run",
        "List the versions, across all models, produced by a training run; newest first.",
        ["registry lineage by-run run-42"],
    )
    p.add_argument("run_id", metavar="RUN_ID", help="training run id")

    p = _command(
        g,
        "by-dataset",
        cmd.lineage_by_dataset,
        "versions trained on a data set",
        "List the versions, across all models, trained on the data set with this digest\n"
        "(as given with `registry versions create --dataset digest=...`); newest first.",
        ["registry lineage by-dataset sha256:ab12"],
    )
    p.add_argument("digest", metavar="DIGEST", help="the data set's digest, matched exactly")

    p = _command(
        g,
        "show",
        cmd.lineage_show,
        "a version's ancestors and descendants",
        "Show where a version came from and what was derived from it, across models,\n"
        "through the parent links set with `registry versions create --parent`. The\n"
        "table draws one tree: the oldest ancestor first, down to the version (marked\n"
        "*), then every version derived from it. JSON has model_version, ancestors\n"
        "(parent first), descendants (nearest generation first; each one's\n"
        "lineage.parent_model_uri names its parent) and truncated.",
        [
            "registry lineage show fraud-detector 3",
            "registry --output json lineage show fraud-detector 3 --max-depth 1",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("version", metavar="VERSION", type=cmd.positive_int, help="version number")
    p.add_argument(
        "--max-depth",
        type=cmd.positive_int,
        default=0,
        metavar="N",
        help="links to follow each way, up to 100 (default: 100)",
    )


_TIMES = (
    "Times are ISO-8601 (2026-03-01, 2026-03-01T10:00, '2026-03-01 10:00:00+02:00',\n"
    "2026-03-01T08:00Z) or epoch milliseconds; a time without an offset is UTC, not\n"
    "your local time. Times in the table are shown in UTC."
)

_KINDS = (
    "model_created, model_renamed, model_updated, model_deleted, model_tag_set,\n"
    "model_tag_deleted, version_created, version_updated, version_deleted,\n"
    "version_stage_changed, version_status_changed, version_tag_set,\n"
    "version_tag_deleted, alias_set, alias_deleted"
)


def _add_history(sub: Any) -> None:
    p = _command(
        sub,
        "history",
        cmd.history,
        "recorded changes, or a model's state at a past moment",
        "List recorded changes, oldest first: who changed what, when, and the values\n"
        "before and after. With NAME, the changes to that model (deleted models too, by\n"
        "the name they had); without, the changes to every model. The options narrow the\n"
        "list and combine with AND.\n\n"
        "With --as-of, show instead the model as it was at that moment: which versions\n"
        "held each stage, where each alias pointed, and every version's stage and status.\n\n"
        + _TIMES
        + "\n\nKinds of change, for --kind:\n"
        + _KINDS
        + ".",
        [
            "registry history fraud-detector",
            "registry history fraud-detector --after 120 --limit 20",
            "registry history fraud-detector --alias champion --since 2026-03-01",
            "registry history fraud-detector --version 3 --kind version_stage_changed",
            "registry history --actor ci-bot --since 2026-03-01T00:00Z --until 2026-03-02",
            'registry history fraud-detector --as-of "2026-03-01 10:00"',
            "registry --output json history fraud-detector --as-of 1772359200000",
        ],
        check=cmd.check_history,
    )
    p.add_argument(
        "name", metavar="NAME", nargs="?", default=None, help="model name (default: every model)"
    )
    p.add_argument(
        "--version",
        type=cmd.positive_int,
        default=None,
        metavar="N",
        help="only changes to version N (needs NAME)",
    )
    p.add_argument("--alias", metavar="ALIAS", help="only moves and deletions of this alias")
    p.add_argument(
        "--kind",
        dest="kinds",
        action="append",
        metavar="KIND",
        help="only changes of this kind (e.g. alias_set); repeat for several",
    )
    p.add_argument(
        "--actor",
        dest="by_actor",
        metavar="ACTOR",
        help="only changes made by ACTOR (the global --actor, before the command, is who\nyou are)",
    )
    p.add_argument(
        "--since", type=cmd.timestamp, metavar="TIME", help="only changes at or after TIME"
    )
    p.add_argument("--until", type=cmd.timestamp, metavar="TIME", help="only changes before TIME")
    p.add_argument(
        "--after",
        type=cmd.non_negative_int,
        default=0,
        metavar="EVENT_ID",
        help="only events after this event id (to continue a listing)",
    )
    p.add_argument(
        "--limit",
        type=cmd.positive_int,
        default=None,
        metavar="N",
        help="show at most N events (default: all); the id to continue after goes to stderr",
    )
    p.add_argument(
        "--as-of",
        type=cmd.timestamp,
        default=None,
        metavar="TIME",
        help="show the model's stages and aliases as they were at TIME (needs NAME)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full ``registry`` argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="registry",
        description="Command line client for the model registry.",
        epilog=_examples(
            "registry models create fraud-detector",
            "registry versions create fraud-detector --source s3://models/fraud/42",
            "registry aliases set fraud-detector champion 1",
            "registry resolve models:/fraud-detector@champion",
            "registry --output json history fraud-detector",
            "registry versions create fraud-detector --artifacts ./model-out",
            "registry download models:/fraud-detector@champion ./model",
            "registry search versions --filter \"alias = 'champion' AND tags.team = 'risk'\"",
            "registry lineage show fraud-detector 3",
            'registry history fraud-detector --as-of "2026-03-01 10:00"',
        )
        + "\n\nExit status: 0 success, 1 the call failed, 2 bad command line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="registry server (default: $REGISTRY_TARGET, else 127.0.0.1:50051)",
    )
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="table for people (default) or one JSON document for scripts",
    )
    parser.add_argument(
        "--timeout",
        type=cmd.positive_float,
        default=10.0,
        metavar="SECONDS",
        help="time limit per command, retries included (default: 10)",
    )
    parser.add_argument(
        "--actor", help="who to record in the history (default: $REGISTRY_ACTOR, else your user)"
    )
    parser.add_argument(
        "--token",
        help="bearer token sent with every call (default: $REGISTRY_TOKEN; prefer the variable:\n"
        "command lines are visible to other users of the machine)",
    )
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="connect with TLS, or plaintext with --no-tls (default: $REGISTRY_TLS; "
        "any --tls-* option implies --tls; else plaintext)",
    )
    parser.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="CA certificate(s) to verify the server with; implies --tls "
        "(default: $REGISTRY_TLS_CA, else the system's trusted roots)",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="client certificate for servers that require one (mutual TLS); needs --tls-key "
        "(default: $REGISTRY_TLS_CLIENT_CERT)",
    )
    parser.add_argument(
        "--tls-key",
        metavar="PEM",
        help="the client certificate's unencrypted private key (default: $REGISTRY_TLS_CLIENT_KEY)",
    )
    parser.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="name the server's certificate must carry when --target does not use it, "
        "e.g. an IP address (default: $REGISTRY_TLS_SERVER_NAME)",
    )
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    _add_models(sub)
    _add_versions(sub)
    _add_aliases(sub)
    _add_artifacts(sub)
    _command(
        sub,
        "whoami",
        cmd.whoami,
        "show who the server takes you to be",
        "Show the principal and global role the server sees for your token (or your\n"
        "actor name when the server runs without authentication).",
        ['registry --token "$REGISTRY_TOKEN" whoami'],
    )

    p = _command(
        sub,
        "resolve",
        cmd.resolve,
        "resolve a models:/ URI to one version",
        "Resolve a models:/ URI to exactly one READY version and print its pinned form\n"
        "(models:/NAME/VERSION[/PATH]) and the version's details. Accepted forms:\n"
        "  models:/NAME/VERSION   models:/NAME/STAGE   models:/NAME/latest   models:/NAME@ALIAS\n"
        "each optionally followed by /PATH inside the model.",
        [
            "registry resolve models:/fraud-detector@champion",
            "registry resolve models:/fraud-detector/Production/model.pkl",
        ],
    )
    p.add_argument("uri", metavar="URI", help="a models:/ URI")

    p = _command(
        sub,
        "download",
        cmd.download,
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
        type=cmd.positive_int,
        default=4,
        metavar="N",
        help="parallel downloads (default: 4)",
    )

    _add_search(sub)
    _add_lineage(sub)
    _add_history(sub)
    _add_access(sub)
    _add_tokens(sub)
    return parser


def _add_access(sub: Any) -> None:
    g = _group(
        sub,
        "access",
        "who may change a model: protected aliases/stages, per-model grants",
        "Per-model access control. A protected alias or stage can only be moved by an\n"
        "admin of the model; a grant raises a principal's role on one model (e.g. a\n"
        "team's CI token is writer on its own models only).",
        [
            "registry access protect fraud-detector --alias champion --stage Production",
            "registry access grant fraud-detector ci-risk writer",
        ],
    )
    p = _command(
        g,
        "protect",
        cmd.access_protect,
        "set the protected aliases and stages of a model",
        "Replace the model's protected aliases and stages with the ones given (none:\n"
        "unprotect everything). Needs the admin role on the model.",
        [
            "registry access protect fraud-detector --alias champion --stage Production",
            "registry access protect fraud-detector",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument(
        "--alias", dest="aliases", action="append", metavar="ALIAS", help="protect this alias"
    )
    p.add_argument(
        "--stage",
        dest="stages",
        action="append",
        metavar="STAGE",
        help="protect this stage (Staging, Production or Archived)",
    )
    p = _command(
        g,
        "grant",
        cmd.access_grant,
        "give a principal a role on one model",
        "Give PRINCIPAL at least ROLE on the model, replacing an earlier grant.\n"
        "Needs the global admin role.",
        ["registry access grant fraud-detector ci-risk writer"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("principal", metavar="PRINCIPAL", help="the token's principal")
    p.add_argument("role", choices=("reader", "writer", "admin"), help="role on this model")
    p = _command(
        g,
        "ungrant",
        cmd.access_ungrant,
        "remove a principal's grant on a model",
        "Remove PRINCIPAL's grant on the model. Needs the global admin role.",
        ["registry access ungrant fraud-detector ci-risk"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("principal", metavar="PRINCIPAL", help="the token's principal")
    p = _command(
        g,
        "grants",
        cmd.access_grants,
        "list the grants on a model",
        "List who has a per-model grant on the model. Needs the admin role on it.",
        ["registry access grants fraud-detector"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")


def _add_tokens(sub: Any) -> None:
    g = _group(
        sub,
        "tokens",
        "access tokens: create, list, revoke (admins)",
        "Manage bearer tokens. The secret is printed once at creation; the server\n"
        "keeps only a hash. All commands need the global admin role (on the server\n"
        "host, `registry-server tokens ...` works without a token).",
        [
            "registry tokens create ci-risk --role none --expires-in 90d",
            "registry tokens list",
        ],
    )
    p = _command(
        g,
        "create",
        cmd.tokens_create,
        "create a token and print its secret once",
        "Create a token for PRINCIPAL with a global role (none: only per-model grants\n"
        "apply). The secret is shown once; pass it with --token or $REGISTRY_TOKEN.",
        [
            "registry tokens create ci-risk --role none --description 'CI of the risk team'",
            "registry --output json tokens create deployer --role reader --expires-in 30d",
        ],
    )
    p.add_argument("principal", metavar="PRINCIPAL", help="who the token authenticates as")
    p.add_argument(
        "--role", required=True, choices=("none", "reader", "writer", "admin"), help="global role"
    )
    p.add_argument("--description", help="what the token is for")
    p.add_argument(
        "--expires-in",
        type=cmd.duration,
        metavar="DURATION",
        help="lifetime, e.g. 90d, 12h, 3600 (default: never expires)",
    )
    p = _command(
        g,
        "list",
        cmd.tokens_list,
        "list tokens (never their secrets)",
        "List active tokens, newest first; --all includes revoked and expired ones.",
        ["registry tokens list --all"],
    )
    p.add_argument("--all", action="store_true", help="include revoked and expired tokens")
    p = _command(
        g,
        "revoke",
        cmd.tokens_revoke,
        "revoke a token",
        "Revoke a token by its ID (see `registry tokens list`); calls carrying it are\n"
        "refused within seconds on every server replica.",
        ["registry tokens revoke 7"],
    )
    p.add_argument("token_id", metavar="ID", type=cmd.positive_int, help="token ID")


# -- entry point ---------------------------------------------------------------------


def _exit_status(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit status instead of exiting (testable)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        problem = args.check(args) if args.check is not None else None
        if problem is not None:
            args.command_parser.error(problem)  # prints usage and exits 2
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return _exit_status(exc.code)
    try:
        client = RegistryClient(
            args.target,
            timeout=args.timeout,
            actor=args.actor,
            token=args.token,
            tls=args.tls,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_server_name=args.tls_server_name,
        )
    except TlsArgumentError as exc:  # name the flag, not the Python argument
        print(f"error: {exc.naming(as_flags=True)}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with client:
            result: cmd.Result = args.handler(client, args)
    except (RegistryError, OSError, ValueError) as exc:
        # OSError/ValueError: local files (a missing folder, a full disk,
        # a file that cannot be uploaded), reported like a refused call.
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    try:
        if args.output == "json":
            print(out.dumps(result.data), flush=True)
        else:
            print(result.text, flush=True)
            if result.note:
                print(result.note, file=sys.stderr)
    except BrokenPipeError:
        # The reader stopped early (`registry history | head`): not worth a
        # traceback. Point stdout at /dev/null so that the interpreter's final
        # flush does not fail again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
