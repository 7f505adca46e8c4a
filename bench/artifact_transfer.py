#!/usr/bin/env python3
"""Artifact transfer benchmark: through the registry server vs straight to S3.

The entry script (`python bench/artifact_transfer.py --help` for the flags); the benchmark
itself is the package bench/transfer/, whose docstring describes what is measured and why.

    .venv/bin/python bench/artifact_transfer.py --size-mib 1024 --json bench.json
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds harness.py and the package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer.cli import main

if __name__ == "__main__":
    sys.exit(main())
