"""A segment job holds about one channel at a time, however many fields and planes its well
has: at most 3 fields and a constant.

Measured with tracemalloc, which sees every numpy buffer (numpy reports its allocations to
it), so the bound holds whatever else the process has allocated before the job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from hcs_steps.plate import read_well, synthetic_plate
from hcs_steps.workflow.config import validate_config
from hcs_steps.workflow.plan import build_plan
from hcs_steps.workflow.run_segment import run_segment

CHANNELS, Z, SIZE = 2, 8, 192
FIELD_BYTES = CHANNELS * Z * SIZE * SIZE * 2  # one uint16 field, 1.1 MiB

PIPELINE = [
    {"name": "normalize", "step": "stack_percentile_normalize", "backend": "numpy"},
    {"name": "smooth", "step": "gaussian", "backend": "numpy", "params": {"sigma": 1.0}},
    {
        "name": "count",
        "step": "count_cells_single_channel",
        "backend": "numpy",
        "channel": ["c0"],
        "params": {"detection_method": "threshold", "min_area": 20},
    },
]


def peak_of_segment(tmp_path, fields: int) -> tuple[int, np.ndarray]:
    plate = tmp_path / f"in{fields}.zarr"
    synthetic_plate(plate, rows=1, columns=1, fields=fields, channels=CHANNELS, z=Z, y=SIZE, x=SIZE)
    config = {"plates": {"demo": {"format": "demo"}}, "pipeline": PIPELINE, "gpu": False}
    spec = build_plan(validate_config(config)).segments[0].spec()
    out = tmp_path / f"out{fields}.zarr"
    tracemalloc.start()
    try:
        run_segment(
            spec,
            plate="p",
            well="A01",
            input_plate=str(plate),
            output_plates={"count": str(out)},
            measurements={
                k: str(tmp_path / f"{fields}.{k}.parquet") for k in ("counts", "objects")
            },
            channel_names=["c0", "c1"],
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, read_well(out, "A01")


@pytest.mark.slow
def test_peak_memory_of_a_job_is_flat_in_fields_and_bounded_by_a_field(tmp_path):
    peak_of_segment(tmp_path, 1)  # imports and first-call caches are not the job's data
    few, few_result = peak_of_segment(tmp_path, 2)
    many, many_result = peak_of_segment(tmp_path, 16)
    assert many_result.shape == (16, CHANNELS, Z, SIZE, SIZE)
    np.testing.assert_array_equal(many_result[:2], few_result)  # same wells, same results
    # Holding the well (16 fields) would take 16 field sizes for the input alone, and twice
    # that for its float32 result; streamed, the peak does not grow with the fields.
    assert many < 1.25 * few, (few, many)
    # Measured 4.0 fields (tracemalloc counts numpy's buffers exactly: no allocator noise):
    # one channel's input and float32 result, and its step temporaries (the percentile of
    # a float64 copy); holding the field's results until the field was done took 5.9,
    # holding the well 112.
    assert many < 5 * FIELD_BYTES, many / FIELD_BYTES


TORCH_PIPELINE = [
    {
        "name": "normalize",
        "step": "stack_percentile_normalize",
        "backend": "torch",
        "params": {"low_percentile": 1.0, "high_percentile": 99.8},
    },
    {
        "name": "tophat",
        "step": "tophat",
        "backend": "torch",
        "params": {"selem_radius": 30, "downsample_factor": 2},
    },
]

# In a fresh process: warm up on a small well, then the job's peak resident memory above
# its start (VmHWM after /proc/self/clear_refs): torch's buffers are invisible to tracemalloc.
JOB_PROBE = """
import json, sys
from pathlib import Path
from hcs_steps.workflow.config import validate_config
from hcs_steps.workflow.plan import build_plan
from hcs_steps.workflow.run_segment import run_segment

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

pipeline, warm, plate, out = json.loads(sys.argv[1])
config = {"plates": {"demo": {"format": "demo"}}, "pipeline": pipeline, "gpu": False}
spec = build_plan(validate_config(config)).segments[0].spec()

def job(input_plate, name):
    run_segment(spec, plate="p", well="A01", input_plate=input_plate,
                output_plates={"tophat": f"{out}/{name}.zarr"},
                measurements={k: f"{out}/{name}.{k}.parquet" for k in ("counts", "objects")},
                channel_names=["c0", "c1"])

job(warm, "warm")
Path("/proc/self/clear_refs").write_text("5")
start = status("VmRSS")
job(plate, "job")
print(json.dumps(status("VmHWM") - start))
"""


def torch_job_peak(tmp_path, z: int) -> int:
    """Peak of the torch segment (normalize -> tophat) on a well of 2 fields of ``z`` planes."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    warm, plate = tmp_path / "warm.zarr", tmp_path / f"in{z}.zarr"
    synthetic_plate(warm, rows=1, columns=1, fields=1, channels=CHANNELS, z=2, y=64, x=64)
    synthetic_plate(plate, rows=1, columns=1, fields=2, channels=CHANNELS, z=z, y=SIZE, x=SIZE)
    argument = json.dumps([TORCH_PIPELINE, str(warm), str(plate), str(tmp_path)])
    env = {**os.environ, "HCS_STEPS_VISIBLE_GPUS": ""}
    result = subprocess.run(
        [sys.executable, "-c", JOB_PROBE, argument], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_peak_memory_of_a_torch_job_is_3_fields_and_a_constant_whatever_its_planes(tmp_path):
    pytest.importorskip("torch")
    planes = 40
    field = CHANNELS * planes * SIZE * SIZE * 2  # 5.6 MiB
    # What a job holds whatever its images' size (tables, metadata, codecs, libraries'
    # buffers): the peak on a well of 2 planes a field, whose field is 0.3 MiB.
    constant = torch_job_peak(tmp_path / "small", 2)
    peak = torch_job_peak(tmp_path / "large", planes)
    # Measured 16 MiB (3.0 x) with a constant of 4 MiB: a channel's input and result at
    # a time, written as soon as it is done, and freed buffers returned to the system
    # (hcs_steps.workflow.allocator). Writing a field's results at once, with glibc's
    # dynamic mmap threshold, took 36 MiB (6.4 x), and the steps' old stack-sized
    # temporaries 125 MiB (22 x).
    assert peak < 3 * field + constant + 8 * 2**20, (peak / field, constant)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="needs glibc",
)
@pytest.mark.parametrize(("setting", "fixed"), [(None, True), ("4194304", False)])
def test_a_job_fixes_the_mmap_threshold_unless_the_user_has_set_it(setting, fixed):
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    if setting is not None:
        env["MALLOC_MMAP_THRESHOLD_"] = setting
    probe = "from hcs_steps.workflow.allocator import map_large_buffers as m; print(m(), m())"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.split() == [str(fixed)] * 2  # once per process, the same answer
