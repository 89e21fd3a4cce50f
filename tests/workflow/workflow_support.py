"""Tiny plates and a Snakemake runner for the workflow tests.

Every Snakemake test runs the repository's Snakefile in its own working directory
(``--directory``), with ``config/config.yaml`` written there, on plates of a few 64 x 64
wells so that the whole suite stays within minutes on two cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[2]
WELLS = ("B02", "B03", "C02")
CHANNELS = ("nuclei", "membrane")
SIZE, PLANES = 64, 3


def disks_plane(count: int, seed: int) -> np.ndarray:
    """A uint16 plane with ``count`` separated bright disks (radius 5) on a noisy background."""
    rng = np.random.default_rng(seed)
    plane = rng.normal(200, 20, (SIZE, SIZE))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    centres = [(12 + 20 * (i // 3), 12 + 20 * (i % 3)) for i in range(count)]
    for y, x in centres:
        plane[(yy - y) ** 2 + (xx - x) ** 2 <= 25] += 3000
    return plane.clip(0, 65535).astype(np.uint16)


def build_tiny_plate(path: Path, wells=WELLS) -> dict[str, int]:
    """Write an OME-Zarr plate: one field, two channels, 3 planes; returns disks per well."""
    from hcs_steps.plate import write_plate_metadata, write_well

    counts = {}
    for index, well in enumerate(wells):
        counts[well] = 2 + 3 * index
        nuclei = [disks_plane(counts[well], seed=10 * index + z) for z in range(PLANES)]
        membrane = [disks_plane(1, seed=100 + 10 * index + z) for z in range(PLANES)]
        data = np.stack([np.stack(nuclei), np.stack(membrane)])[None]
        write_well(path, well, data, channel_names=list(CHANNELS))
    write_plate_metadata(path, name="tiny", wells=list(wells), channel_names=list(CHANNELS))
    return counts


def numpy_pipeline() -> list[dict]:
    return [
        {
            "name": "normalize",
            "step": "stack_percentile_normalize",
            "backend": "numpy",
            "params": {"low_percentile": 1.0, "high_percentile": 99.5},
        },
        {"name": "smooth", "step": "gaussian", "backend": "numpy", "params": {"sigma": 1.0}},
        {
            "name": "count",
            "step": "count_cells_single_channel",
            "backend": "numpy",
            "channel": ["nuclei"],
            "params": {"detection_method": "threshold", "min_area": 20, "smoothing_sigma": 1.0},
        },
    ]


def make_config(plate: Path, pipeline=None, **extra) -> dict:
    config = {
        "plates": {"tiny": {"path": str(plate), "format": "ome-zarr"}},
        "pipeline": pipeline or numpy_pipeline(),
    }
    config.update(extra)
    return config


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """``python -m snakemake`` on the repository's Snakefile inside ``workdir``, with ``args``."""
    snakefile = str(REPO / "Snakefile")
    return [sys.executable, "-m", "snakemake", "-s", snakefile, "--directory", str(workdir), *args]


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m snakemake`` on the repository's Snakefile inside ``workdir``."""
    env = {**os.environ, "HCS_STEPS_VISIBLE_GPUS": os.environ.get("HCS_STEPS_VISIBLE_GPUS", "")}
    command = snakemake_command(workdir, "--cores", "2", *args)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-6000:]}"
        )
    return result


def files_under(path: Path) -> dict[str, bytes]:
    """Contents of every file under ``path`` (Snakemake's timestamp marker excepted)."""
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != ".snakemake_timestamp"
    }


def mtimes_under(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}


def job_counts(result) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run as {rule: count} (no table: nothing ran)."""
    output = result.stdout + result.stderr
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def assert_demo_b03_counted_closely(results: Path) -> None:
    """The demo's well B03, whose slabs cut through the labelled nuclei, is counted within
    2 nuclei of its known count in every field (``results`` is ``results/demo``)."""
    import pandas as pd

    from hcs_steps.plate import open_plate

    known = open_plate(results / "ingested.zarr").attributes["known_counts"]["B03"]
    counts = pd.read_csv(results / "tables" / "counts.csv").query(
        "well == 'B03' and step == 'count'"
    )
    found = counts.groupby("field")["count"].sum().sort_index().tolist()
    assert len(found) == len(known)
    assert all(abs(f - k["objects"]) <= 2 for f, k in zip(found, known, strict=True))
