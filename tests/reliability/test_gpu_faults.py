"""GPU out-of-memory inside a workflow job, without a GPU: torch's own OOM exception, raised
by a real plugin step, recovered by the memory system or failing only its well's job.

The plugin step needs memory in proportion to the bright pixels of the stack it is given
(as a step whose memory grows with its objects does) and raises ``torch.OutOfMemoryError``
(the class CUDA raises, present in the CPU build) beyond a budget. The budget is one plane
of B03's bright pixels: B02 and B03 fit once their stacks are split along Z, C02 does not
fit even a single plane.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from workflow_support import build_tiny_plate, make_config, run_snakemake, write_config

from hcs_steps.plate import read_well

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")

BRIGHT = 1000  # above the tiny plates' background (about 200), below their disks (3200)
PLUGIN = f'''
import torch

from hcs_steps import memory
from hcs_steps.steps import register_step


@register_step("scaled_on_a_budget")
@memory.torch
def scaled_on_a_budget(stack, *, factor=2.0, bright_pixel_budget=None):
    """Scale a stack; more bright pixels than the budget are an out-of-memory error."""
    stack = stack.to(torch.float32)
    needed = int((stack > {BRIGHT}).sum())
    if bright_pixel_budget is not None and needed > bright_pixel_budget:
        raise torch.OutOfMemoryError(
            f"CUDA out of memory (injected): {{needed}} bright pixels for {{bright_pixel_budget}}"
        )
    return stack * factor
'''


def pipeline(budget):
    params = {"factor": 2.0, "bright_pixel_budget": budget}
    return [{"name": "scaled", "step": "scaled_on_a_budget", "backend": "torch", "params": params}]


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    (tmp_path / "budget_steps.py").write_text(PLUGIN)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    )
    return tmp_path


def run(workdir, plate, budget, *args, check=True):
    config = make_config(plate, pipeline(budget), plugins=["budget_steps"], gpu=False)
    write_config(workdir, config)
    return run_snakemake(workdir, *args, check=check)


def test_out_of_memory_is_recovered_or_fails_only_its_well(tmp_path, plugin_path):
    plate = tmp_path / "tiny.zarr"
    build_tiny_plate(plate)
    b03_nuclei = read_well(plate, "B03")[0, 0]
    budget = int(max((p > BRIGHT).sum() for p in b03_nuclei))
    c02_nuclei = read_well(plate, "C02")[0, 0]
    assert min((p > BRIGHT).sum() for p in c02_nuclei) > budget  # C02 cannot be split to fit
    for well in ("B02", "B03"):
        assert (read_well(plate, well)[0, 0] > BRIGHT).sum() > budget  # split, not just run

    unsplit = tmp_path / "unsplit"
    run(unsplit, plate, None)
    faulty = tmp_path / "faulty"
    result = run(faulty, plate, budget, "--keep-going", check=False)
    assert result.returncode != 0

    steps = faulty / "results/tiny/steps/scaled.zarr"
    for well in ("B02", "B03"):  # recovered: equal to the unsplit result, tables made
        recovered = read_well(steps, well)
        np.testing.assert_array_equal(
            recovered, read_well(unsplit / "results/tiny/steps/scaled.zarr", well)
        )
        assert (faulty / f"results/tiny/tables/wells/{well}/counts.parquet").is_file()
    # unrecoverable: that well's job failed with torch's error in its log, nothing published
    assert not (steps / "C" / "02").exists()
    log = (faulty / "logs/tiny/segment_scaled/C02.log").read_text()
    assert "torch.OutOfMemoryError: CUDA out of memory (injected)" in log
    assert "ran out of memory even on a single Z plane" in log
    assert "segment_scaled" in result.stderr and "C02" in result.stderr
    # the plate-level rules wait for every well: nothing there claims C02
    assert not (faulty / "results/tiny/tables/counts.csv").exists()
