"""Fixtures of the SLURM tests: a reachable cluster, the test profile, a tiny plate.

Without a cluster (start it with ``tests/slurm/start-slurm.sh``) the tests skip; with
``HCS_STEPS_TEST_SLURM=1`` they fail instead, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The tiny plates and config helpers of the workflow tests, shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from slurm_support import SLURM_ENV, cluster_problem, write_test_profile  # noqa: E402
from workflow_support import build_tiny_plate  # noqa: E402


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    problem = cluster_problem()
    if problem is None:
        return
    if os.environ.get(SLURM_ENV) == "1":
        pytest.fail(f"{SLURM_ENV}=1 but no SLURM cluster takes jobs: {problem}")
    pytest.skip(f"no SLURM cluster (start one with tests/slurm/start-slurm.sh): {problem}")


@pytest.fixture(scope="session")
def slurm_profile(slurm_cluster, tmp_path_factory) -> Path:
    return write_test_profile(tmp_path_factory.mktemp("profile") / "slurm-test")


@pytest.fixture(scope="session")
def tiny_plate(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plates") / "tiny.zarr"
    build_tiny_plate(path)
    return path
