"""The benchmark harness is the top-level ``benchmarks`` folder, not part of the package."""

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)
