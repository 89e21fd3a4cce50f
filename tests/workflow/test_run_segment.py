"""One segment on one well, without Snakemake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hcs_steps.plate import read_well
from hcs_steps.workflow.config import validate_config
from hcs_steps.workflow.plan import build_plan
from hcs_steps.workflow.run_segment import run_segment


def segment_spec(pipeline, **extra):
    config = {"plates": {"demo": {"format": "demo"}}, "pipeline": pipeline, "gpu": False}
    config.update(extra)
    return build_plan(validate_config(config)).segments[0].spec()


def run(tmp_path, tiny_plate, spec, well="B03"):
    outputs = {name: str(tmp_path / f"{name}.zarr") for name in spec["written"]}
    measurements = {kind: str(tmp_path / f"{kind}.parquet") for kind in ("counts", "objects")}
    log = tmp_path / "job.log"
    run_segment(
        spec,
        plate="tiny",
        well=well,
        input_plate=str(tiny_plate),
        output_plates=outputs,
        measurements=measurements,
        channel_names=["nuclei", "membrane"],
        log=str(log),
    )
    return outputs, measurements, log.read_text()


def test_steps_apply_to_their_channels_only(tmp_path, tiny_plate):
    spec = segment_spec(
        [
            {"name": "smooth", "step": "gaussian", "backend": "numpy", "channel": ["membrane"]},
            {
                "name": "count",
                "step": "count_cells_single_channel",
                "backend": "numpy",
                "channel": ["nuclei"],
                "params": {"detection_method": "threshold", "min_area": 20},
            },
        ],
        keep=["smooth"],
    )
    outputs, measurements, log = run(tmp_path, tiny_plate, spec)
    source = read_well(tiny_plate, "B03")
    smoothed = read_well(outputs["smooth"], "B03")
    np.testing.assert_array_equal(smoothed[:, 0], source[:, 0])  # nuclei passed through
    assert not np.array_equal(smoothed[:, 1], source[:, 1])
    counts = pd.read_parquet(measurements["counts"])
    assert counts["count"].tolist() == [5, 5, 5] and set(counts["channel"]) == {"nuclei"}
    assert pd.read_parquet(measurements["objects"])["well"].unique().tolist() == ["B03"]
    assert "segment smooth_to_count (numpy): device cpu" in log


def test_projection_on_some_channels_only_is_refused(tmp_path, tiny_plate):
    """Config validation refuses this already; a spec made without it still fails clearly."""
    spec = segment_spec([{"name": "project", "step": "max_projection", "backend": "numpy"}])
    spec["steps"][0]["channels"] = ["nuclei"]
    with pytest.raises(ValueError, match="different shapes"):
        run(tmp_path, tiny_plate, spec)
    log = (tmp_path / "job.log").read_text()
    assert "job failed" in log and "different shapes" in log  # the traceback is in the job log


def test_gpu_segment_without_a_gpu_runs_on_cpu_and_says_so(tmp_path, tiny_plate, monkeypatch):
    monkeypatch.setenv("HCS_STEPS_VISIBLE_GPUS", "")
    spec = segment_spec(
        [{"name": "project", "step": "max_projection", "backend": "torch"}], gpu=True
    )
    assert spec["device"] == "gpu"
    outputs, _, log = run(tmp_path, tiny_plate, spec)
    assert read_well(outputs["project"], "B03").shape == (1, 2, 1, 64, 64)
    assert "no GPU for this GPU-typed segment: torch runs on the CPU" in log


def test_a_gpu_slurm_gave_without_cuda_behind_it_runs_on_cpu(tmp_path, tiny_plate, monkeypatch):
    from hcs_steps.memory.device import cuda_available

    if cuda_available():
        pytest.skip("CUDA works here: the assigned GPU is used, not the CPU")
    # What a SLURM job on a node with gres GPUs but no NVIDIA driver sees.
    monkeypatch.delenv("HCS_STEPS_VISIBLE_GPUS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("HCS_STEPS_GPU_LOCK_DIR", str(tmp_path / "locks"))
    spec = segment_spec(
        [{"name": "project", "step": "max_projection", "backend": "torch"}], gpu=True
    )
    outputs, _, log = run(tmp_path, tiny_plate, spec)
    assert read_well(outputs["project"], "B03").shape == (1, 2, 1, 64, 64)
    assert "SLURM job 4242: CUDA_VISIBLE_DEVICES=1" in log
    assert "device cpu - GPU 1 (cuda:0) of 1 assigned by SLURM" in log
    assert "CUDA cannot use it (no NVIDIA driver)" in log

    cupy_spec = {**spec, "memory_type": "cupy"}
    with pytest.raises(RuntimeError, match="well B03, segment project: cupy needs CUDA"):
        run(tmp_path, tiny_plate, cupy_spec)
