"""A segment job holds about one field at a time, however many fields its well has.

Measured with tracemalloc, which sees every numpy buffer (numpy reports its allocations to
it), so the bound holds whatever else the process has allocated before the job.
"""

from __future__ import annotations

import tracemalloc

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
    # Measured 7.4 fields: one field's float32 result (2 x) and one channel's step
    # temporaries (the percentile of a float64 copy: 3.5 x); holding the well took 112.
    assert many < 10 * FIELD_BYTES, many / FIELD_BYTES
