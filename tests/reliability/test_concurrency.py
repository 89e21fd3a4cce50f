"""Concurrency: two invocations on one results directory, the memory system's out-of-memory
recovery in many threads at once, two plates with the same well names in one run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from workflow_support import (
    REPO,
    build_tiny_plate,
    files_under,
    make_config,
    numpy_pipeline,
    run_snakemake,
    write_config,
)

from hcs_steps import memory
from hcs_steps.plate import read_well

# A numpy step that holds its job until the test opens the gate: the first invocation is
# certainly running (and holding Snakemake's lock) while the second one starts.
GATE_PLUGIN = '''
import time
from pathlib import Path

from hcs_steps import memory
from hcs_steps.steps import register_step


@register_step("wait_for_gate")
@memory.numpy
def wait_for_gate(stack, *, gate=""):
    """Return the stack once the file ``gate`` exists."""
    deadline = time.monotonic() + 300
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gate {gate} never opened")
        time.sleep(0.05)
    return stack
'''


def counts_per_well(workdir, plate="tiny") -> dict[str, int]:
    counts = pd.read_parquet(workdir / f"results/{plate}/tables/counts.parquet")
    return counts.groupby("well")["count"].max().to_dict()


@pytest.mark.slow
def test_a_second_invocation_is_refused_and_the_first_finishes(tmp_path, monkeypatch):
    (tmp_path / "gate_steps.py").write_text(GATE_PLUGIN)
    env_path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", env_path)
    plate, gate = tmp_path / "tiny.zarr", tmp_path / "gate"
    expected = build_tiny_plate(plate)
    gated = {"name": "gated", "step": "wait_for_gate", "params": {"gate": str(gate)}}
    workdir = tmp_path / "work"
    write_config(workdir, make_config(plate, [gated, *numpy_pipeline()], plugins=["gate_steps"]))
    command = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--cores", "2",
    ]  # fmt: skip
    first = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HCS_STEPS_VISIBLE_GPUS": ""},
    )
    try:
        deadline = time.monotonic() + 120
        while not list((workdir / "logs/tiny").glob("segment_*/*.log")):
            assert first.poll() is None, first.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = run_snakemake(workdir, check=False)
        assert first.poll() is None  # the gate is still closed: the first run was running
    finally:
        gate.touch()
        output, _ = first.communicate(timeout=300)
    refusal = second.stdout + second.stderr
    assert second.returncode != 0
    assert "Directory cannot be locked" in refusal and "--unlock" in refusal
    assert "Finished jobid" not in refusal  # it ran nothing
    assert first.returncode == 0, output
    assert counts_per_well(workdir) == expected


def test_out_of_memory_recovery_in_many_threads_at_once():
    """Threads that run out of memory (and free caches, split their stacks) while others
    compute normally: every thread gets its own right result."""
    torch = pytest.importorskip("torch")

    @memory.torch
    def doubled_on_one_plane_at_most(stack, *, offset):
        if stack.shape[0] > 1:  # stand-in for a stack too big for the device
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return stack * 2 + offset

    @memory.torch
    def doubled(stack, *, offset):
        return stack * 2 + offset

    rng = np.random.default_rng(0)
    stacks = [rng.random((1 + k % 5, 16, 16), dtype=np.float32) for k in range(48)]

    def job(k):
        function = doubled_on_one_plane_at_most if k % 2 else doubled
        with memory.use_device("cpu"):
            return function(stacks[k], offset=k).numpy()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(len(stacks))))
    for k, result in enumerate(results):
        np.testing.assert_array_equal(result, stacks[k] * 2 + k)


@pytest.mark.slow
def test_two_plates_in_one_run_never_mix_wells(tmp_path):
    """Two plates with the same well names and different content: each plate's results
    equal those of a run of that plate alone, file for file."""
    plates = {"left": tmp_path / "left.zarr", "right": tmp_path / "right.zarr"}
    left = build_tiny_plate(plates["left"])
    right = build_tiny_plate(plates["right"], wells=("C02", "B02", "B03"))
    assert left["B02"] != right["B02"]  # same well, other content

    def config(names):
        plate_config = {name: {"path": str(plates[name]), "format": "ome-zarr"} for name in names}
        return {**make_config(plates["left"], fuse=False), "plates": plate_config}

    def outputs(workdir, name):  # benchmarks record times; the run record names every plate
        return {
            path: data
            for path, data in files_under(workdir / "results" / name).items()
            if path.split("/")[0] not in ("benchmarks", "provenance")
        }

    both = tmp_path / "both"
    write_config(both, config(["left", "right"]))
    run_snakemake(both)
    for name, expected in (("left", left), ("right", right)):
        alone = tmp_path / name
        write_config(alone, config([name]))
        run_snakemake(alone)
        assert counts_per_well(both, name) == expected
        assert outputs(both, name) == outputs(alone, name)
        count = read_well(both / f"results/{name}/steps/count.zarr", "B02")
        np.testing.assert_array_equal(
            count, read_well(alone / f"results/{name}/steps/count.zarr", "B02")
        )
