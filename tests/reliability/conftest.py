"""The reliability tests run real Snakemake on the workflow tests' tiny plates."""

from __future__ import annotations

import sys
from pathlib import Path

# workflow_support (tiny plates, a Snakemake runner) lives beside the workflow tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
