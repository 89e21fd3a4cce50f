"""The workflow passes `snakemake --lint` and `snakefmt --check`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from workflow_support import REPO


def run_module(*args: str) -> subprocess.CompletedProcess:
    """``python -m <args>`` in the repository root."""
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_snakemake_lint_is_clean():
    result = run_module("snakemake", "--lint")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Congratulations, your workflow is in a good condition!" in output


def test_snakefmt_check_passes():
    result = run_module("snakefmt", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
