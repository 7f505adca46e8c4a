"""``registry import``: bring another registry's models in (admin only)."""

from __future__ import annotations

import argparse
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._parsing import Result, command, group, positive_int


def add(sub: Any) -> None:
    g = group(
        sub,
        "import",
        "import: bring in the models of another registry (MLflow)",
        "Import models from another registry, keeping their version numbers, times and\n"
        "creators. Needs a global admin token. Imports only create: running one again\n"
        "changes nothing, and a later run adds only what is new.",
        ["registry import mlflow --tracking-uri http://mlflow.internal:5000 --dry-run"],
    )
    p = command(
        g,
        "mlflow",
        import_mlflow,
        "import an MLflow model registry",
        "Read the MLflow registry at --tracking-uri with MLflow's client (install the\n"
        "extra: pip install 'modelregistry[mlflow]') and import its models (or those\n"
        "named with --model): descriptions and tags; versions with their MLflow numbers\n"
        "(deleted numbers stay gaps, new versions continue after the highest), sources,\n"
        "runs, tags, descriptions, stages, creation times and creators; and aliases.\n"
        "Each version is imported in one transaction and recorded in the history as an\n"
        "`imported` event carrying its original time and creator. A version already\n"
        "here is skipped; a different version with the same number is reported as a\n"
        "failure and left untouched. A failure never stops the other items: the report\n"
        "at the end lists every model, version and alias imported, skipped or failed,\n"
        "with the reason for each failure.",
        [
            "registry import mlflow --tracking-uri http://mlflow.internal:5000",
            "registry import mlflow --tracking-uri http://mlflow.internal:5000 --model fraud"
            " --model churn --dry-run",
            "registry --output json import mlflow --tracking-uri sqlite:///mlflow.db"
            " --copy-artifacts",
        ],
    )
    p.add_argument(
        "--tracking-uri",
        required=True,
        metavar="URI",
        help="the MLflow tracking and registry URI, e.g. http://mlflow:5000",
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        dest="models",
        help="import only this model (repeatable; default: every model)",
    )
    p.add_argument(
        "--copy-artifacts",
        action="store_true",
        help="download each version's files from MLflow and store them in the registry\n"
        "(with a manifest) instead of pointing at MLflow's artifact location",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="only report what would be imported; change nothing",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=4,
        metavar="N",
        help="models imported at a time (default: 4)",
    )


def import_mlflow(c: RegistryClient, a: argparse.Namespace) -> Result:
    from registry_client.importer import import_mlflow as run

    report = run(
        c,
        a.tracking_uri,
        models=a.models,
        copy_artifacts=a.copy_artifacts,
        dry_run=a.dry_run,
        workers=a.workers,
    )
    failed = len(report.failed)
    note = f"{failed} item(s) failed; see the reasons above" if failed else ""
    # Exit 1 when anything failed, so a pipeline notices; the report still prints.
    return Result(report.to_json(), report.text(), note, failed=bool(failed))
