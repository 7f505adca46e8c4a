"""How fast `registry import mlflow` moves versions (without --copy-artifacts).

Fills an MLflow registry (SQLite, written directly through MlflowClient, which is much
faster than through a server) with --models models of --versions versions each, then
imports it into our server (its own process; SQLite unless --database-url) twice, reading
MLflow side by side in two ways:

* through a real `mlflow server` (--workers 1), as a migration would;
* straight from MLflow's SQLite file (MlflowClient on sqlite:///), which shows what the
  import costs on our side alone.

Each import goes into a fresh database, and a second run of the same import (nothing to
do) shows what a re-run costs. Prints versions/s for each; the target is >= 200 versions/s
on 10,000 versions.

    .venv/bin/python bench/import_rate.py --versions 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import print_table, server_process
from support.mlflow_server import mlflow_server

from registry_client import RegistryClient
from registry_client.importer import import_mlflow


def populate(uri: str, models: int, versions: int) -> float:
    from mlflow import MlflowClient

    mc = MlflowClient(tracking_uri=uri, registry_uri=uri)
    started = time.perf_counter()
    for m in range(models):
        name = f"bench-{m}"
        mc.create_registered_model(name, tags={"team": "bench"}, description="benchmark")
        for v in range(1, versions + 1):
            mc.create_model_version(
                name,
                f"s3://bucket/{name}/{v}",
                run_id=f"run-{v}",
                tags={"i": str(v)},
                description=f"version {v}",
            )
        mc.set_registered_model_alias(name, "champion", str(versions))
    return time.perf_counter() - started


def measure(label: str, uri: str, folder: Path, workers: int, total: int) -> list[object]:
    db = folder / f"registry-{label.replace(' ', '-')}.db"
    with (
        server_process(f"sqlite:///{db}", str(folder / "artifacts"), workers=16) as server,
        RegistryClient(server.target, timeout=60, actor="importer") as client,
    ):
        first = import_mlflow(client, uri, workers=workers)
        again = import_mlflow(client, uri, workers=workers)
    imported = first.counts()["version"]["imported"]
    assert imported == total, first.text()
    assert again.counts()["version"]["skipped"] == total, again.text()
    return [
        label,
        imported,
        round(first.seconds, 2),
        round(imported / first.seconds),
        round(again.seconds, 2),
        round(total / again.seconds),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1)
    parser.add_argument("--versions", type=int, default=2000, help="per model")
    parser.add_argument("--workers", type=int, default=4, help="models imported at a time")
    args = parser.parse_args()
    total = args.models * args.versions
    with tempfile.TemporaryDirectory(prefix="import-rate-") as tmp:
        folder = Path(tmp)
        direct = f"sqlite:///{folder / 'mlflow.db'}"
        seconds = populate(direct, args.models, args.versions)
        print(f"MLflow filled with {total} versions in {seconds:.1f} s", file=sys.stderr)
        rows = [measure("sqlite file", direct, folder, args.workers, total)]
        with mlflow_server(folder) as mlflow:
            rows.append(measure("mlflow server", mlflow.uri, folder, args.workers, total))
    print_table(
        ["MLflow read from", "versions", "import s", "versions/s", "re-run s", "re-run versions/s"],
        rows,
    )


if __name__ == "__main__":
    main()
