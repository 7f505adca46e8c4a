"""Real MLflow pointed at our registry: the URIs, a small pyfunc model, a logged run.

`use_mlflow` points MLflow's process-wide tracking and registry URIs at a SQLite tracking
store (artifacts in a folder of the test) and at our server, and puts back what was there
before; `make_model` builds a `PythonModel` that cloudpickle stores by value (it is defined
in a function), so a `mlflow models serve` process can load it without this package.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.tracking._model_registry.utils as registry_utils
import mlflow.tracking._tracking_service.utils as tracking_utils
import pandas as pd
import pytest
from mlflow.pyfunc.model import PythonModel

#: What the pyfunc needs to be served: MLflow itself, from the running venv (pinning it
#: keeps log_model from inferring requirements in a subprocess).
PIP_REQUIREMENTS = [f"mlflow=={mlflow.__version__}"]


@dataclass(frozen=True)
class MlflowEnv:
    tracking_uri: str
    registry_uri: str
    experiment_id: str
    artifact_root: Path

    def env(self) -> dict[str, str]:
        """The variables a child process needs to see the same stores."""
        return {"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_REGISTRY_URI": self.registry_uri}


@contextmanager
def use_mlflow(
    monkeypatch: pytest.MonkeyPatch, tracking_db: Path, artifacts: Path, registry_uri: str
) -> Iterator[MlflowEnv]:
    """MLflow's URIs set for the block (variables and module globals), restored after.

    Each test gets an experiment of its own whose artifacts go under ``artifacts``; the
    tracking database may be shared (its migrations take seconds to run).
    """
    tracking_uri = f"sqlite:///{tracking_db}"
    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)
    try:
        artifacts.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.MlflowClient().create_experiment(
            f"exp-{uuid.uuid4().hex}", artifact_location=artifacts.as_uri()
        )
        yield MlflowEnv(tracking_uri, registry_uri, experiment_id, artifacts)
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved


def make_model(factor: int) -> Any:
    """A pyfunc that multiplies column ``x`` by ``factor``."""

    class Multiply(PythonModel):
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return (model_input["x"] * factor).tolist()

    return Multiply()


def log_model(
    env: MlflowEnv, factor: int, registered_model_name: str | None = None
) -> tuple[str, Any]:
    """Log the pyfunc in a new run (registering it when a name is given): (run id, model info)."""
    with mlflow.start_run(experiment_id=env.experiment_id) as run:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=make_model(factor),
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=registered_model_name,
        )
    return run.info.run_id, info


def predict(model_uri: str) -> list[int]:
    model = mlflow.pyfunc.load_model(model_uri)
    return list(model.predict(pd.DataFrame({"x": [1, 2, 3]})))
