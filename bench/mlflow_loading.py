"""Loading a registered model through MLflow: our plugin against `mlflow server`.

What is timed is what a serving process does to get its model:

    mlflow.pyfunc.load_model("models:/<name>@champion", dst_path=<fresh temp folder>)

which resolves the alias, downloads the version's files and loads the pyfunc (its
``load_context`` reads the whole artifact file). The same model folder, saved once with
``mlflow.pyfunc.save_model`` (a PythonModel plus a ``--artifact-mib`` MiB file in
``artifacts=``), is registered on each side, byte for byte:

    ours     registry URI ``modelregistry+grpc://...``: `registry-server serve` on a throwaway
             PostgreSQL database with a local-folder artifact store; the folder is uploaded as
             a registry-held version (``RegistryClient.log_model_version``, the upload the
             plugin's ``log_model(..., registered_model_name=)`` makes), so MLflow resolves it
             through ``RegistryStore`` and downloads it through ``RegistryArtifactRepository``
             (gRPC streams, sha256 checked). The tracking URI is the (first) MLflow server, as
             for a user who moved only the registry; loading a registry-held version never
             calls it.
    mlflow   registry and tracking URI ``http://...``: `mlflow server` on another throwaway
             database of the same PostgreSQL, proxying artifacts (``--artifacts-destination
             <folder> --serve-artifacts``, so the default artifact root is ``mlflow-artifacts:/``);
             the folder is logged as a run's artifacts through the proxy and registered from
             there, so a load downloads it over HTTP through the server. One setup per
             ``--mlflow-workers`` entry: as shipped (4 uvicorn workers) and/or ``--workers N``.

Warm loads: ``--loads`` per system in one Python process, the systems taking turns (so drift in
the machine's load spreads over all of them), after one untimed load each. Every load gets a
new empty ``dst_path`` that is deleted afterwards, so nothing is reused from an earlier
download; what a long-running process keeps between loads is kept on both sides (MLflow's
cached registry store with our gRPC channel, MLflow's requests session).

Cold loads: ``--cold`` new Python processes per system, each timing its first load (MLflow
imported before the clock starts): building the store and the first connections count.

    .venv/bin/python bench/mlflow_loading.py                     # 30 warm + 5 cold loads each
    .venv/bin/python bench/mlflow_loading.py --loads 50 --artifact-mib 50 --mlflow-workers 1

`REGISTRY_BENCH_DATABASE_URL` names an administrative database on the PostgreSQL server
(default: postgres on 127.0.0.1:5432). Figures are printed, never judged; exit status 1 means a
load failed or loaded different bytes than were registered.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_ADMIN_URL,
    machine_info,
    percentile,
    print_table,
    throwaway_database,
    write_json,
)
from mlflow_compare.servers import MlflowServer, our_server, stop_all

NAME = "loading-bench"
ALIAS = "champion"
#: MLflow writes this into every folder it downloads from a models:/ URI; not a model file.
MARKER = "registered_model_meta"

# One load in a new interpreter: argv = registry URI, tracking URI, model URI, dst folder.
_COLD = """
import sys, time, mlflow, mlflow.pyfunc
registry, tracking, uri, dst = sys.argv[1:]
mlflow.set_tracking_uri(tracking)
mlflow.set_registry_uri(registry)
t0 = time.perf_counter()
mlflow.pyfunc.load_model(uri, dst_path=dst)
print(time.perf_counter() - t0)
"""


class ProxyingMlflowServer(MlflowServer):
    """servers.MlflowServer with the artifact proxy: ``--artifacts-destination`` instead of
    ``--default-artifact-root``, so clients up- and download through the server.

    The base class builds its command inside ``start``; rather than copy it, the one
    ``--default-artifact-root <folder>`` pair is swapped on its way to ``Popen``."""

    def start(self) -> None:
        real = subprocess.Popen

        def with_proxy(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
            at = command.index("--default-artifact-root")
            command[at : at + 2] = [
                "--artifacts-destination",
                str(self.folder / "artifacts"),
                "--serve-artifacts",
            ]
            return real(command, **kwargs)

        with mock.patch.object(subprocess, "Popen", with_proxy):
            super().start()


def make_model(folder: Path, artifact_mib: int) -> Path:
    """A pyfunc saved once (MLmodel, python_model.pkl, requirements, the artifact)."""
    import mlflow.pyfunc
    from mlflow.pyfunc.model import PythonModel

    weights = folder / "weights.bin"
    weights.write_bytes(os.urandom(artifact_mib * 1024 * 1024))

    class Weighted(PythonModel):  # defined here, so cloudpickle stores it by value
        def load_context(self, context: Any) -> None:
            self.size = len(Path(context.artifacts["weights"]).read_bytes())

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [self.size] * len(model_input)

    path = folder / "model"
    mlflow.pyfunc.save_model(
        path,
        python_model=Weighted(),
        artifacts={"weights": str(weights)},
        pip_requirements=[f"mlflow=={mlflow.__version__}"],
    )
    return path


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def register_ours(target: str, model: Path) -> None:
    from registry_client import RegistryClient

    with RegistryClient(target) as client:
        client.create_registered_model(NAME)
        version = client.log_model_version(NAME, model)
        client.set_registered_model_alias(NAME, ALIAS, version.version)


def register_mlflow(url: str, model: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    run = client.create_run("0")
    client.log_artifacts(run.info.run_id, str(model), "model")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(NAME)
    version = client.create_model_version(
        NAME, f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(NAME, ALIAS, version.version)


def load(registry_uri: str, tracking_uri: str, scratch: Path) -> tuple[float, Path]:
    """One timed load into a new folder under ``scratch``: (seconds, the folder)."""
    import mlflow.pyfunc

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)
    dst = Path(tempfile.mkdtemp(dir=scratch))
    t0 = time.perf_counter()
    mlflow.pyfunc.load_model(f"models:/{NAME}@{ALIAS}", dst_path=str(dst))
    return time.perf_counter() - t0, dst


def cold_load(registry_uri: str, tracking_uri: str, scratch: Path) -> float:
    dst = Path(tempfile.mkdtemp(dir=scratch))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "REGISTRY_"))}
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                _COLD,
                registry_uri,
                tracking_uri,
                f"models:/{NAME}@{ALIAS}",
                str(dst),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(dst, ignore_errors=True)


def summary(label: str, seconds: Sequence[float]) -> list[object]:
    ms = [s * 1000 for s in seconds]
    return [label, len(ms), percentile(ms, 0.5), percentile(ms, 0.9), min(ms), max(ms)]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=30, help="warm loads per system (30)")
    parser.add_argument("--cold", type=int, default=5, help="new-process loads per system (5)")
    parser.add_argument("--artifact-mib", type=int, default=5, help="artifact file size (5)")
    parser.add_argument(
        "--mlflow-workers",
        default="default",
        help="comma-separated MLflow setups: 'default' (4 uvicorn workers) and/or counts",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.mlflow_workers = [
        None if w.strip() == "default" else int(w) for w in args.mlflow_workers.split(",")
    ]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    admin_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlflow-loading-")))
        scratch = folder / "loads"
        scratch.mkdir()
        systems = start_systems(stack, admin_url, folder, args.mlflow_workers)
        model = make_model(folder, args.artifact_mib)
        expected = tree_digest(model)
        print(
            f"model: {len(expected)} files, "
            f"{sum(p.stat().st_size for p in model.rglob('*') if p.is_file()) / 2**20:.1f} MiB"
        )
        for label, registry_uri, tracking_uri, register in systems:
            register(model)
            seconds, dst = load(registry_uri, tracking_uri, scratch)
            if tree_digest(dst) != expected:
                print(f"{label}: the loaded files differ from the registered ones")
                return 1
            shutil.rmtree(dst)
            print(f"{label}: registered, first load {seconds * 1000:.0f} ms (untimed)", flush=True)
        warm: dict[str, list[float]] = {label: [] for label, *_ in systems}
        for n in range(args.loads):
            turn = systems[n % len(systems) :] + systems[: n % len(systems)]
            for label, registry_uri, tracking_uri, _ in turn:
                seconds, dst = load(registry_uri, tracking_uri, scratch)
                warm[label].append(seconds)
                shutil.rmtree(dst)
        cold: dict[str, list[float]] = {label: [] for label, *_ in systems}
        for _ in range(args.cold):
            for label, registry_uri, tracking_uri, _ in systems:
                cold[label].append(cold_load(registry_uri, tracking_uri, scratch))
    report(args, warm, cold)
    return 0


System = tuple[str, str, str, Callable[[Path], None]]


def start_systems(
    stack: contextlib.ExitStack, admin_url: str, folder: Path, setups: Sequence[int | None]
) -> list[System]:
    """Our server and one proxying `mlflow server` per setup, each on its own database:
    (label, registry URI, tracking URI, how to register the model there)."""
    servers: list[MlflowServer] = []
    for workers in setups:
        label = "mlflow" if workers is None else f"mlflow-w{workers}"
        url = stack.enter_context(throwaway_database(admin_url))
        server = ProxyingMlflowServer(label, url, folder / label, workers)
        stack.callback(server.stop)
        server.start()
        servers.append(server)
    stack.callback(stop_all, servers)
    ours = stack.enter_context(
        our_server(
            stack.enter_context(throwaway_database(admin_url)),
            str(folder / "ours-artifacts"),
            processes=1,
            workers=8,
        )
    )
    # The user who moves the registry keeps MLflow's tracking server; loading a registry-held
    # version never calls it, but MlflowClient builds its store (a SQLite tracking URI would
    # add the import of MLflow's SQL store, 0.7 s, to a cold load).
    tracking = servers[0].url if servers else f"sqlite:///{folder / 'tracking.db'}"
    systems: list[System] = [
        ("ours", f"modelregistry+grpc://{ours.target}", tracking, _bind(register_ours, ours.target))
    ]
    print("waiting for mlflow server ...", flush=True)
    for started in servers:
        started.wait_ready()
        systems.append(
            (started.label, started.url, started.url, _bind(register_mlflow, started.url))
        )
    return systems


def _bind(register: Callable[[str, Path], None], where: str) -> Callable[[Path], None]:
    return lambda model: register(where, model)


def report(args: argparse.Namespace, warm: dict[str, list[float]], cold: dict[str, Any]) -> None:
    import mlflow

    print(
        f"\nmlflow.pyfunc.load_model('models:/{NAME}@{ALIAS}'), {args.artifact_mib} MiB artifact,"
        f" mlflow {mlflow.__version__}"
    )
    headers = ["system", "loads", "median ms", "p90 ms", "min ms", "max ms"]
    print("\nwarm (one process, fresh dst_path per load):")
    print_table(headers, [summary(label, s) for label, s in warm.items()])
    if args.cold:
        print("\ncold (first load in a new process):")
        print_table(headers, [summary(label, s) for label, s in cold.items()])
    write_json(
        args.json,
        {"machine": machine_info(), "args": vars(args), "warm_s": warm, "cold_s": cold},
    )


if __name__ == "__main__":
    sys.exit(main())
