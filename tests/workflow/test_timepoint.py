"""A multi-time-point instrument folder: the config chooses the time point, as advised."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from workflow_support import make_config, run_snakemake, write_config

from hcs_steps.plate import read_well

pytestmark = pytest.mark.slow


def imagexpress_time_series(root, timepoints=(1, 2)):
    """One well, one site, one wavelength per TimePoint_<n> folder; plane values = 100 * n."""
    for t in timepoints:
        folder = root / f"TimePoint_{t}"
        folder.mkdir(parents=True)
        plane = np.full((16, 16), 100 * t, np.uint16)
        tifffile.imwrite(folder / "TS_B02_s1_w1.tif", plane)
    return root


def ingest_only_pipeline():
    return [{"name": "project", "step": "max_projection", "backend": "numpy"}]


def test_several_time_points_need_the_config_key_and_it_chooses(tmp_path):
    folder = imagexpress_time_series(tmp_path / "export")
    config = make_config(folder, pipeline=ingest_only_pipeline())
    config["plates"]["tiny"]["format"] = "imagexpress"
    write_config(tmp_path, config)
    refused = run_snakemake(tmp_path, "-n", check=False)
    assert refused.returncode != 0
    assert "timepoint: <n> in the config" in refused.stdout + refused.stderr

    config["plates"]["tiny"]["timepoint"] = 2
    write_config(tmp_path, config)
    run_snakemake(tmp_path)
    ingested = read_well(tmp_path / "results" / "tiny" / "ingested.zarr", "B02")
    assert (ingested == 200).all()

    config["plates"]["tiny"]["timepoint"] = 1
    write_config(tmp_path, config)
    assert "rule ingest_well:" in run_snakemake(tmp_path, "-n").stdout
