"""Our registry against MLflow's model registry, side by side, on the same PostgreSQL.

The entry script (`python bench/vs_mlflow.py --help` for the flags and what is measured);
the comparison itself is the package bench/mlflow_compare/, whose docstring describes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds harness.py and the package; spawned client processes inherit this path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mlflow_compare.cli import main

if __name__ == "__main__":
    sys.exit(main())
