"""The hot reads as the registry grows: 100,000 models and 1,000,000 versions on PostgreSQL.

The entry script (`python bench/scale.py --help` for the flags and what is measured); the
benchmark itself is the package bench/scale_bench/, whose docstring describes it.

    .venv/bin/python bench/scale.py                                   # about 15 minutes
    .venv/bin/python bench/scale.py --models 100 --versions 500,1000 --seconds 1   # seconds
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds harness.py, search.py, sql_plans.py and the package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
