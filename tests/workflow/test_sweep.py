"""Real Snakemake runs of a parameter sweep on the tiny plate: sharing, tables, promotion."""

from __future__ import annotations

import copy
import itertools
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_support import (
    job_counts,
    make_config,
    run_snakemake,
    write_config,
)

from hcs_steps.workflow import sweep_cli

pytestmark = pytest.mark.slow

SWEPT_WELLS = ["B02", "B03"]
# the last step's parameters (the pipeline's own: min_area 20, smoothing_sigma 1.0); at
# smoothing_sigma 1.0 the disks measure about 89 pixels, so min_area 90 drops them
GRID = {"count.min_area": [20, 90], "count.smoothing_sigma": [1.0, 1.5]}
KINDS = ("counts", "objects")
NAMES = [
    "min_area-20_smoothing_sigma-1.0",
    "min_area-20_smoothing_sigma-1.5",
    "min_area-90_smoothing_sigma-1.0",
    "min_area-90_smoothing_sigma-1.5",
]


def sweep_config(plate, grid=GRID) -> dict:
    # fuse: false, so that normalize and smooth are segments of their own before count
    return make_config(plate, fuse=False, sweep={"params": grid, "wells": SWEPT_WELLS})


def with_values(config: dict, values: dict) -> dict:
    """The plain config (no sweep) with the swept values written into the pipeline."""
    plain = copy.deepcopy(config)
    del plain["sweep"]
    entries = {entry["name"]: entry for entry in plain["pipeline"]}
    for key, value in values.items():
        name, parameter = key.split(".", 1)
        entries[name].setdefault("params", {})[parameter] = value
    return plain


def copy_workdir(source, target):
    shutil.copytree(source, target, symlinks=True)  # keeps the time stamps Snakemake reads
    return target


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_plate):
    """The 2 x 2 sweep over the count step, run once (`snakemake sweep`) for this module."""
    workdir = tmp_path_factory.mktemp("sweep")
    config = sweep_config(tiny_plate)
    write_config(workdir, config)
    return workdir, config, run_snakemake(workdir, "sweep")


def test_earlier_segments_run_once_per_well(swept):
    workdir, _, result = swept
    counts = job_counts(result)
    assert counts["segment_normalize"] == counts["segment_smooth"] == len(SWEPT_WELLS)
    # count: the pipeline's own values use the plain rule, the other three chains their own
    assert counts["segment_count"] == len(SWEPT_WELLS)
    assert counts["sweep_segment_count"] == 3 * len(SWEPT_WELLS)
    assert counts["sweep_well_tables"] == len(NAMES) * len(SWEPT_WELLS)
    assert counts["sweep_tables"] == len(NAMES)
    assert "well_tables" not in counts and "sweep_segment_normalize" not in counts
    chains = workdir / "results" / "tiny" / "sweep" / "chains"
    assert len(list(chains.iterdir())) == 3


def test_each_combination_equals_a_plain_run_byte_for_byte(swept, tmp_path):
    workdir, config, _ = swept
    table = pd.read_csv(workdir / "results/tiny/sweep/combinations.csv")
    assert table["combination"].tolist() == NAMES
    plain_runs = {}
    for row in table.to_dict("records"):
        name = row.pop("combination")
        plain_runs[name] = tmp_path / name
        write_config(plain_runs[name], {**with_values(config, row), "wells": SWEPT_WELLS})
    targets = [f"results/tiny/tables/{kind}.csv" for kind in ("counts", "objects", "summary")]
    with ThreadPoolExecutor(2) as pool:  # two Snakemake processes at a time, one per core
        list(pool.map(lambda plain: run_snakemake(plain, *targets), plain_runs.values()))
    objects = set()
    for name, plain in plain_runs.items():
        ours = workdir / "results" / "tiny" / "sweep" / name / "tables"
        theirs = plain / "results" / "tiny" / "tables"
        for well in SWEPT_WELLS:
            for kind in ("counts", "objects"):
                file = f"wells/{well}/{kind}.parquet"
                assert (ours / file).read_bytes() == (theirs / file).read_bytes(), (name, file)
        for kind in ("counts", "objects", "summary"):
            for extension in ("csv", "parquet"):
                file = f"{kind}.{extension}"
                assert (ours / file).read_bytes() == (theirs / file).read_bytes(), (name, file)
        objects.add((ours / "objects.csv").read_bytes())
    # the parameters do change what is measured; only the 97-pixel disks of
    # smoothing_sigma 1.5 pass both minimum areas
    assert len(objects) == len(NAMES) - 1


def test_the_summary_lists_every_combination_and_well(swept):
    workdir, _, _ = swept
    sweep = workdir / "results" / "tiny" / "sweep"
    summary = pd.read_csv(sweep / "summary.csv")
    assert summary.columns.tolist() == [
        "plate",
        "well",
        "combination",
        "count.min_area",
        "count.smoothing_sigma",
        "step",
        "channel",
        "measurement",
        "value",
    ]
    pairs = set(zip(summary["combination"], summary["well"], strict=True))
    assert pairs == set(itertools.product(NAMES, SWEPT_WELLS))
    pd.testing.assert_frame_equal(pd.read_parquet(sweep / "summary.parquet"), summary)
    for name, group in summary.groupby("combination"):
        own = pd.read_csv(sweep / name / "tables" / "summary.csv")
        assert group["value"].tolist() == own["value"].tolist()
        values = group[["count.min_area", "count.smoothing_sigma"]].drop_duplicates()
        assert len(values) == 1 and name == (
            f"min_area-{values.iloc[0, 0]}_smoothing_sigma-{values.iloc[0, 1]}"
        )
    plots = sorted(p.name for p in (sweep / "plots").glob("*.png"))
    assert plots == [
        f"count.nuclei.{m}.png"
        for m in ("area_mean", "count_mean", "count_total", "intensity_mean")
    ]


def test_the_report_has_a_sweep_section(swept):
    workdir, _, _ = swept
    run_snakemake(workdir, "--report", "report.html", "sweep")
    html = (workdir / "report.html").read_text(errors="replace")
    for text in ("Sweep", "combinations.csv", "count.nuclei.count_mean.png", "summary.csv"):
        assert text in html


def test_a_changed_sweep_value_reruns_only_its_chains_and_clean_removes_the_old(
    swept, tmp_path, monkeypatch
):
    workdir = copy_workdir(swept[0], tmp_path / "changed")
    config = sweep_config(swept[1]["plates"]["tiny"]["path"], {**GRID, "count.min_area": [20, 60]})
    write_config(workdir, config)
    counts = job_counts(run_snakemake(workdir, "sweep"))
    assert counts["sweep_segment_count"] == 2 * len(SWEPT_WELLS)  # min_area 60, two sigmas
    assert not {"segment_normalize", "segment_smooth", "segment_count"} & set(counts)
    monkeypatch.chdir(workdir)
    sweep = Path("results/tiny/sweep")  # clean lists paths relative to the workflow directory
    stale = sweep_cli.unreferenced(["tiny"], sweep_cli._load("config/config.yaml")[2])
    assert sorted(p.name for p in stale if p.parent == sweep) == NAMES[2:]
    assert len([p for p in stale if p.parent.name == "chains"]) == 2
    assert sweep_cli.clean(None, delete=False) == 0 and all(p.exists() for p in stale)
    assert sweep_cli.clean(None, delete=True) == 0 and not any(p.exists() for p in stale)
    assert job_counts(run_snakemake(workdir, "-n", "sweep")) == {}  # nothing in use was removed


def test_promotion_reuses_the_swept_wells_results(swept, tmp_path, monkeypatch):
    workdir = copy_workdir(swept[0], tmp_path / "promoted")
    picked = NAMES[3]
    monkeypatch.chdir(workdir)
    assert sweep_cli.pick(picked, None) == 0
    promoted = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    assert promoted["pipeline"][2]["params"]["min_area"] == 90
    assert promoted["pipeline"][2]["params"]["smoothing_sigma"] == 1.5
    # the whole plate now: only the well outside the sweep (C02) runs its segments, and no
    # sweep result is redone (the previous values are kept as a chain of their own)
    dry = job_counts(run_snakemake(workdir, "-n"))
    assert dry["segment_normalize"] == dry["segment_smooth"] == dry["segment_count"] == 1
    assert not any(rule.startswith("sweep") for rule in dry), dry
    results = workdir / "results" / "tiny"
    tables = [f"tables/wells/{well}" for well in SWEPT_WELLS]
    # merged again by the pick from the moved measurements, and recorded: nothing to redo
    counts = job_counts(run_snakemake(workdir, *[f"results/tiny/{table}" for table in tables]))
    assert counts == {}
    for table in (f"{tables}/{kind}.parquet" for tables in tables for kind in KINDS):
        promoted_table = (results / table).read_bytes()
        assert promoted_table == (results / "sweep" / picked / table).read_bytes(), table
    assert job_counts(run_snakemake(workdir, "-n", "sweep")) == {}
    # Snakemake still reruns what a later change of the promoted values affects
    promoted["pipeline"][2]["params"]["min_area"] = 20
    write_config(workdir, promoted)
    dry = job_counts(run_snakemake(workdir, "-n"))
    assert dry["segment_count"] == 3  # the swept wells too
    assert dry["segment_smooth"] == 1  # C02 only, which has not run yet


def test_promotion_waits_for_a_complete_sweep(swept, tmp_path, monkeypatch, capsys):
    workdir = copy_workdir(swept[0], tmp_path / "incomplete")
    (workdir / "results/tiny/sweep" / NAMES[1] / "tables/counts.csv").unlink()
    before = (workdir / "config" / "config.yaml").read_text()
    monkeypatch.chdir(workdir)
    assert sweep_cli.pick(NAMES[3], None) == 2
    assert "run `snakemake sweep` first" in capsys.readouterr().err
    assert (workdir / "config" / "config.yaml").read_text() == before


def test_a_bad_sweep_stops_snakemake_before_any_job(tmp_path, tiny_plate):
    config = sweep_config(tiny_plate)
    config["sweep"]["wells"] = ["B02", "H12"]
    write_config(tmp_path, config)
    result = run_snakemake(tmp_path, check=False)
    assert result.returncode != 0
    assert "config key sweep.wells[1]: no well 'H12' on plate tiny" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()
