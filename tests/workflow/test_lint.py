"""The workflow passes `snakemake --lint` and `snakefmt --check`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from workflow_support import REPO


@pytest.mark.slow
def test_snakemake_lint_is_clean():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Congratulations, your workflow is in a good condition!" in output


def test_snakefmt_check_passes():
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "."], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
