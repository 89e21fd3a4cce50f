"""Reproducibility and clean result plates.

A run from a clone of the repository in another directory, with its working directory and
the input plate elsewhere, gives byte-identical result arrays and tables; only the run
record's copy of the config (it names the input plate's path) and hence the run id differ.
Result plates hold nothing but zarr files: Snakemake's ``.snakemake_timestamp`` never lands
inside an OME-Zarr well group. (Rerunning one well, by its target or ``-F``, gives
byte-identical outputs: ``tests/workflow/test_snakemake.py``.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_support import (
    REPO,
    build_tiny_plate,
    files_under,
    make_config,
    run_snakemake,
    write_config,
)

pytestmark = pytest.mark.slow


def zarr_file(relative: Path) -> bool:
    """A zarr v3 group or array document, or a chunk (``c/<i>/<j>/...``, default keys)."""
    if relative.name == "zarr.json":
        return True
    parts = relative.parts
    return "c" in parts and all(p.isdigit() for p in parts[parts.index("c") + 1 :])


def foreign_files(results: Path) -> list[str]:
    """Files inside any result plate (``*.zarr`` under ``results``) that zarr did not write."""
    plates = [p for p in results.rglob("*.zarr") if p.is_dir()]
    assert plates, f"no result plate under {results}"
    return [
        str(path)
        for plate in plates
        for path in plate.rglob("*")
        if path.is_file() and not zarr_file(path.relative_to(plate))
    ]


def test_result_plates_hold_only_zarr_files(tmp_path):
    """Ingested, step and sweep-chain plates, after a run, a rerun of a well and a sweep."""
    config = make_config(None, fuse=False, wells=["B02", "B03"])
    config["plates"] = {"demo": {"format": "demo"}}
    config["sweep"] = {"params": {"smooth.sigma": [1.0, 2.0]}, "wells": ["B02"]}
    write_config(tmp_path, config)
    run_snakemake(tmp_path, "all", "sweep")
    well = "results/demo/steps/smooth.zarr/B/03/zarr.json"
    run_snakemake(tmp_path, "-f", well)
    results = tmp_path / "results/demo"
    assert (results / "ingested.zarr/B/02/zarr.json").is_file()
    assert list((results / "sweep/chains").glob("*/steps/*.zarr/B/02/zarr.json"))
    assert foreign_files(results) == []


def clone_repository(target: Path) -> Path:
    if not (REPO / ".git").exists():
        pytest.skip("the repository is not a git checkout")
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    return target


def run_clone(clone: Path, workdir: Path) -> None:
    command = [
        sys.executable, "-m", "snakemake", "-s", str(clone / "Snakefile"),
        "--directory", str(workdir), "--cores", "2",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(clone), "HCS_STEPS_VISIBLE_GPUS": ""}
    # from the working directory: `python -m` puts the current directory first on sys.path
    run = {"env": env, "cwd": workdir, "capture_output": True, "text": True}
    probe = [sys.executable, "-c", "import hcs_steps; print(hcs_steps.__file__)"]
    imported = subprocess.run(probe, check=True, **run)
    assert imported.stdout.startswith(str(clone))  # the clone's code, not this checkout's
    done = subprocess.run(command, timeout=600, **run)
    assert done.returncode == 0, done.stderr[-6000:]


def result_data(workdir: Path) -> dict[str, bytes]:
    """Result arrays, plate metadata and tables: every result file but Snakemake's
    benchmark timings and the run records."""
    return {
        name: data
        for name, data in files_under(workdir / "results").items()
        if not {"benchmarks", "provenance"} & set(name.split("/"))
    }


def test_a_second_machine_layout_gives_byte_identical_results(tmp_path):
    here, there = tmp_path / "here", tmp_path / "elsewhere/deeper"
    plate = here / "plates/tiny.zarr"
    build_tiny_plate(plate)
    write_config(here / "work", make_config(plate, fuse=False))
    run_snakemake(here / "work")

    clone = clone_repository(there / "hcs-steps")
    moved = there / "data/tiny.zarr"
    shutil.copytree(plate, moved)
    write_config(there / "work", make_config(moved, fuse=False))
    run_clone(clone, there / "work")

    first, second = result_data(here / "work"), result_data(there / "work")
    assert any(name.endswith(".parquet") for name in first)
    assert any("/c/" in name for name in first)  # chunks of the result arrays
    assert first == second
    for workdir in (here / "work", there / "work"):
        assert str(tmp_path) not in "".join(
            d.decode(errors="replace") for d in result_data(workdir).values()
        )

    # the run records differ in the config's plate path (so in the run id) only
    [record_here] = (here / "work/results/tiny/provenance").iterdir()
    [record_there] = (there / "work/results/tiny/provenance").iterdir()
    assert record_here.name != record_there.name
    for name in ("steps.csv", "software_versions.csv"):
        assert (record_here / name).read_bytes() == (record_there / name).read_bytes()
    config_here = yaml.safe_load((record_here / "config.yaml").read_text())
    config_there = yaml.safe_load((record_there / "config.yaml").read_text())
    assert config_here["plates"]["tiny"].pop("path") == str(plate)
    assert config_there["plates"]["tiny"].pop("path") == str(moved)
    assert config_here == config_there
