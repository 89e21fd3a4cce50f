"""A torch segment uses the job's threads, not one thread per core in every job."""

from __future__ import annotations

import pytest

from hcs_steps.workflow.config import validate_config
from hcs_steps.workflow.plan import build_plan
from hcs_steps.workflow.run_segment import run_segment

torch = pytest.importorskip("torch")


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 3])
def test_a_torch_segment_runs_on_the_jobs_threads(tmp_path, tiny_plate, torch_threads, threads):
    pipeline = [{"name": "project", "step": "max_projection", "backend": "torch"}]
    config = {"plates": {"demo": {"format": "demo"}}, "pipeline": pipeline, "gpu": False}
    spec = build_plan(validate_config(config)).segments[0].spec()
    torch.set_num_threads(2)
    run_segment(
        spec,
        plate="tiny",
        well="B02",
        input_plate=str(tiny_plate),
        output_plates={"project": str(tmp_path / "project.zarr")},
        measurements={k: str(tmp_path / f"{k}.parquet") for k in ("counts", "objects")},
        channel_names=["nuclei", "membrane"],
        threads=threads,
    )
    assert torch.get_num_threads() == threads
