"""The cluster's rule per well (workflow/rules/well_chain.smk), run locally by real Snakemake.

Snakemake takes a run for a cluster's when jobs are submitted (``--jobs``); with a local
executor ``--cores 2 --jobs 2`` does the same, so these run in the main suite, without a
cluster: one well_chain job per well, the bytes of a run with a rule per stage, and a
failing stage named with its well and log.
"""

from __future__ import annotations

import os

import pytest
from workflow_support import (
    files_under,
    job_counts,
    make_config,
    numpy_pipeline,
    run_snakemake,
    write_config,
)

pytestmark = pytest.mark.slow

WELLS = ["B02", "C02"]
#: Everything a well's stages write (logs and benchmarks hold times and hosts).
COMPARED = ("steps", "measurements", "tables", "heatmaps")
AS_ON_A_CLUSTER = ("--jobs", "2")


def test_the_chain_rule_writes_what_the_rules_per_stage_write(tiny_plate, tmp_path):
    pipeline = numpy_pipeline()
    pipeline[0]["backend"] = "torch"  # two segments: normalize, then smooth_to_count
    config = make_config(tiny_plate, pipeline, wells=WELLS)
    staged, chained = tmp_path / "staged", tmp_path / "chained"
    for workdir in (staged, chained):
        write_config(workdir, config)
    run_snakemake(staged)
    result = run_snakemake(chained, *AS_ON_A_CLUSTER)
    jobs = job_counts(result)
    assert jobs["well_chain"] == len(WELLS), jobs
    assert not {"well_tables", "segment_normalize"} & set(jobs), jobs
    for name in COMPARED:
        expected = files_under(staged / "results/tiny" / name)
        assert expected, name
        assert files_under(chained / "results/tiny" / name) == expected, name
    # each stage still writes its own log, where a local run writes it
    for well in WELLS:
        for rule in ("segment_normalize", "segment_smooth_to_count", "well_tables"):
            assert (chained / "logs/tiny" / rule / f"{well}.log").read_text(), (rule, well)


FAILING_PLUGIN = '''
from hcs_steps import memory
from hcs_steps.steps import register_step


@register_step("fail_on_purpose")
@memory.numpy
def fail_on_purpose(stack):
    """Fail as a step with a bug would."""
    raise RuntimeError("this step fails on purpose")
'''


def test_a_failing_stage_names_its_well_and_log(tiny_plate, tmp_path, monkeypatch):
    (tmp_path / "failing_steps.py").write_text(FAILING_PLUGIN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]]))
    pipeline = [numpy_pipeline()[0], {"name": "broken", "step": "fail_on_purpose"}]
    config = make_config(tiny_plate, pipeline, wells=["B02"], plugins=["failing_steps"], fuse=False)
    write_config(tmp_path, config)
    result = run_snakemake(tmp_path, *AS_ON_A_CLUSTER, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert (
        "plate tiny well B02: segment broken failed (RuntimeError: this step fails on purpose);"
        " its log: logs/tiny/segment_broken/B02.log" in output
    ), output[-4000:]
    log = (tmp_path / "logs/tiny/segment_broken/B02.log").read_text()
    assert "RuntimeError: this step fails on purpose" in log
    # the stages before it ran and logged; Snakemake removed the failed job's outputs
    assert (tmp_path / "logs/tiny/segment_normalize/B02.log").read_text()
    assert not (tmp_path / "results/tiny/steps/normalize.zarr/B/02/zarr.json").exists()
