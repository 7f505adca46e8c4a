"""``registry versions``: the numbered versions of a model."""

from __future__ import annotations

import argparse
from typing import Any

from registry_client._client import RegistryClient
from registry_client.artifacts.manifest import compute_manifest
from registry_client.cli._format import version_text
from registry_client.cli._parsing import (
    Result,
    add_name_version,
    add_tag_option,
    command,
    done,
    group,
    positive_int,
)
from registry_client.cli._progress import progress_bar
from registry_client.cli.lineage import lineage_by_run
from registry_client.cli.search import SEARCH_PAGES, add_search_options, search_versions
from registry_client.types import Dataset, Lineage


def add(sub: Any) -> None:
    g = group(
        sub,
        "versions",
        "model versions: list, create, inspect, promote, tag, delete",
        "Manage the numbered versions of a model and move them between stages.",
        [
            "registry versions list fraud-detector",
            "registry versions create fraud-detector --source s3://models/fraud/42 --run-id run-42",
            "registry versions transition fraud-detector 3 Production --archive-existing",
        ],
    )
    p = command(
        g,
        "list",
        versions_list,
        "list the versions of a model",
        "List the versions of model NAME, newest first unless --order-by: `registry search\n"
        "versions` with the filter name = 'NAME'. Fails if the model does not exist.\n\n"
        + SEARCH_PAGES,
        [
            "registry versions list fraud-detector",
            "registry versions list fraud-detector --all",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    add_search_options(p, None, "version_number, creation_timestamp or last_updated_timestamp")

    p = command(
        g,
        "create",
        versions_create,
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
    add_tag_option(p)
    p.add_argument(
        "--dataset",
        dest="datasets",
        action="append",
        type=dataset,
        metavar="name=N,digest=D,source=URI",
        help="a training data set (any subset of the keys); repeat for several",
    )
    p.add_argument(
        "--parent", metavar="URI", help="models:/ URI of the version this one derives from"
    )
    p.add_argument("--idempotency-key", metavar="KEY", help="makes re-runs return the same version")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=4,
        metavar="N",
        help="parallel uploads with --artifacts (default: 4)",
    )

    p = command(
        g,
        "finalize",
        versions_finalize,
        "make a pending version READY",
        "Finalize a version created with registry-held files whose files were uploaded\n"
        "one by one (`registry artifacts upload`): the manifest of the local folder DIR\n"
        "(every file, its path relative to DIR, size and sha256) must match the uploaded\n"
        "files exactly, then the version turns READY and is frozen. On a mismatch the\n"
        "command fails naming the file and the version stays pending.",
        ["registry versions finalize fraud-detector 4 --manifest-from ./model-out"],
    )
    add_name_version(p)
    p.add_argument(
        "--manifest-from",
        required=True,
        metavar="DIR",
        help="local folder holding the same files as were uploaded",
    )

    p = command(
        g,
        "abort",
        versions_abort,
        "give up on a pending version",
        "Mark a pending version FAILED_REGISTRATION and delete its uploaded files. READY\n"
        "versions cannot be aborted (delete them instead).",
        ['registry versions abort fraud-detector 4 --reason "training data was wrong"'],
    )
    add_name_version(p)
    p.add_argument("--reason", default="", help="kept as the version's status message")

    p = command(
        g,
        "get",
        versions_get,
        "show a version",
        "Show one version with its stage, status, aliases, tags and lineage.",
        ["registry versions get fraud-detector 3"],
    )
    add_name_version(p)

    p = command(
        g,
        "update",
        versions_update,
        "replace a version's description",
        "Replace a version's description; an empty string clears it.",
        ['registry versions update fraud-detector 3 --description "Retrained on Q1 data"'],
    )
    add_name_version(p)
    p.add_argument("--description", required=True, help="the new description")

    p = command(
        g,
        "delete",
        versions_delete,
        "delete a version",
        "Delete a version and the aliases pointing at it. Its number is never reused.",
        ["registry versions delete fraud-detector 3"],
    )
    add_name_version(p)

    p = command(
        g,
        "set-tag",
        versions_set_tag,
        "set a tag on a version",
        "Add a tag to a version, or overwrite its value.",
        ["registry versions set-tag fraud-detector 3 validated true"],
    )
    add_name_version(p)
    p.add_argument("key", metavar="KEY", help="tag key")
    p.add_argument("value", metavar="VALUE", help="tag value")

    p = command(
        g,
        "delete-tag",
        versions_delete_tag,
        "delete a tag from a version",
        "Delete a tag from a version. Fails if the tag does not exist.",
        ["registry versions delete-tag fraud-detector 3 validated"],
    )
    add_name_version(p)
    p.add_argument("key", metavar="KEY", help="tag key")

    p = command(
        g,
        "transition",
        versions_transition,
        "move a version to a stage",
        "Move a version to a stage: None, Staging, Production or Archived (any case).\n"
        "Only READY versions can enter Staging or Production.",
        [
            "registry versions transition fraud-detector 3 Staging",
            "registry versions transition fraud-detector 3 production --archive-existing",
        ],
    )
    add_name_version(p)
    p.add_argument("stage", metavar="STAGE", help="None, Staging, Production or Archived")
    p.add_argument(
        "--archive-existing",
        action="store_true",
        help="archive the versions already in STAGE, atomically (Staging/Production only)",
    )

    p = command(
        g,
        "by-run",
        lineage_by_run,
        "versions produced by a run (= lineage by-run)",
        "List the versions, across all models, produced by a training run; newest first.\n"
        "Kept for scripts written before `registry lineage by-run`, which it equals.",
        ["registry versions by-run run-42"],
    )
    p.add_argument("run_id", metavar="RUN_ID", help="training run id")


DATASET_KEYS = {
    "name": "name",
    "digest": "digest",
    "source": "source_uri",
    "source_uri": "source_uri",
}


def dataset(text: str) -> Dataset:
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        attr = DATASET_KEYS.get(key.strip())
        if not sep or attr is None:
            raise argparse.ArgumentTypeError(
                f"expected name=N,digest=D,source=URI (any subset), got {text!r}"
            )
        if attr in fields:
            raise argparse.ArgumentTypeError(f"{key.strip()!r} given twice in {text!r}")
        fields[attr] = value
    return Dataset(
        name=fields.get("name", ""),
        digest=fields.get("digest", ""),
        source_uri=fields.get("source_uri", ""),
    )


def _lineage(a: argparse.Namespace) -> Lineage | None:
    if not (a.experiment_id or a.code_version or a.datasets or a.parent):
        return None
    # run_id/run_link are repeated inside the lineage; the contract accepts
    # both forms as long as they agree, which they do here.
    return Lineage(
        run_id=a.run_id or "",
        run_link=a.run_link or "",
        experiment_id=a.experiment_id or "",
        code_version=a.code_version or "",
        datasets=tuple(a.datasets or ()),
        parent_model_uri=a.parent or "",
    )


def versions_list(c: RegistryClient, a: argparse.Namespace) -> Result:
    """``search versions`` narrowed to one model. A model without versions
    and a model that does not exist would both list nothing; the second is
    told apart with one more call, made only when the page is empty."""
    quoted = a.name.replace("'", "''")  # the filter grammar doubles a quote
    result = search_versions(c, argparse.Namespace(**{**vars(a), "filter": f"name = '{quoted}'"}))
    if not result.data["model_versions"] and not a.page_token:
        c.get_registered_model(a.name)  # NotFound for a model that does not exist
    return result


def versions_create(c: RegistryClient, a: argparse.Namespace) -> Result:
    if a.artifacts is None:
        mv = c.create_model_version(
            a.name,
            a.source,
            run_id=a.run_id,
            tags=a.tags,
            run_link=a.run_link,
            description=a.description,
            lineage=_lineage(a),
            idempotency_key=a.idempotency_key,
        )
        return Result(mv, version_text(mv))
    with progress_bar("uploading") as bar:
        mv = c.log_model_version(
            a.name,
            a.artifacts,
            run_id=a.run_id,
            run_link=a.run_link,
            description=a.description,
            tags=a.tags,
            lineage=_lineage(a),
            idempotency_key=a.idempotency_key,
            max_workers=a.workers,
            progress=bar,
        )
    return Result(mv, version_text(mv))


def versions_finalize(c: RegistryClient, a: argparse.Namespace) -> Result:
    manifest = compute_manifest(a.manifest_from)
    mv = c.finalize_model_version(a.name, a.version, manifest)
    return Result(mv, version_text(mv))


def versions_abort(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.abort_model_version(a.name, a.version, reason=a.reason)
    return Result(mv, version_text(mv))


def versions_get(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.get_model_version(a.name, a.version)
    return Result(mv, version_text(mv))


def versions_update(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.update_model_version(a.name, a.version, a.description)
    return Result(mv, version_text(mv))


def versions_delete(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_model_version(a.name, a.version)
    return done(
        f"Deleted version {a.version} of model {a.name!r}.",
        name=a.name,
        version=a.version,
        deleted=True,
    )


def versions_set_tag(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.set_model_version_tag(a.name, a.version, a.key, a.value)
    return done(
        f"Set tag {a.key!r} on version {a.version} of model {a.name!r}.",
        name=a.name,
        version=a.version,
        key=a.key,
        value=a.value,
    )


def versions_delete_tag(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_model_version_tag(a.name, a.version, a.key)
    return done(
        f"Deleted tag {a.key!r} from version {a.version} of model {a.name!r}.",
        name=a.name,
        version=a.version,
        key=a.key,
        deleted=True,
    )


def versions_transition(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.transition_model_version_stage(
        a.name, a.version, a.stage, archive_existing_versions=a.archive_existing
    )
    return Result(mv, version_text(mv))
