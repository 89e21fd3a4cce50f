"""A user's ``--configfile`` replaces the default config: what runs is what ``plan`` shows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from workflow_support import REPO, make_config, run_snakemake, write_config

pytestmark = pytest.mark.slow


def write_default_config_of_another_plate(workdir):
    """A default config/config.yaml whose plate does not exist: merged in, it would fail."""
    missing = workdir / "no-such-plate.zarr"
    default = make_config(missing)
    default["plates"] = {"other": {"path": str(missing), "format": "ome-zarr"}}
    write_config(workdir, default)


def test_configfile_replaces_the_default_config_in_a_real_run(tmp_path, tiny_plate):
    write_default_config_of_another_plate(tmp_path)
    mine = tmp_path / "my.yaml"
    mine.write_text(yaml.safe_dump(make_config(tiny_plate, wells=["B02"])))

    dry = run_snakemake(tmp_path, "-n", "--configfile", str(mine))
    assert "results/tiny/" in dry.stdout
    assert "results/other/" not in dry.stdout

    run_snakemake(tmp_path, "--configfile", str(mine))
    results = tmp_path / "results"
    assert sorted(p.name for p in results.iterdir() if p.is_dir()) == ["tiny"]
    assert (results / "tiny" / "tables" / "wells" / "B02" / "counts.parquet").is_file()

    plan = subprocess.run(
        [sys.executable, "-m", "hcs_steps.cli", "plan", str(mine)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=os.environ,
        check=True,
    )
    assert "plate tiny:" in plan.stdout and "plate other" not in plan.stdout


def test_without_configfile_the_default_config_is_used(tmp_path, tiny_plate):
    write_config(tmp_path, make_config(tiny_plate, wells=["B03"]))
    dry = run_snakemake(tmp_path, "-n")
    assert "results/tiny/steps/count.zarr/B/03" in dry.stdout
    assert "results/tiny/steps/count.zarr/B/02" not in dry.stdout
