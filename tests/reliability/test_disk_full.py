"""A full disk: the run fails naming the path, leaves nothing a rerun takes as done, resumes.

The results directory is a small tmpfs that the test mounts (it needs root, as in CI; it
skips elsewhere). Writes go through a temporary path, fsync and a rename, so a write cut
short by ENOSPC leaves at most a hidden temporary file, never a file under its real name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pandas as pd
import pytest
from workflow_support import build_tiny_plate, make_config, run_snakemake, write_config

from hcs_steps.plate.atomic import write_file_atomically, write_with

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs at ``tmp_path / "disk"``, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)])
    if done.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def visible(root):
    """Files under ``root`` that a reader (or Snakemake) would take as outputs."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def test_a_write_that_runs_out_of_space_leaves_no_file(small_disk):
    with pytest.raises(OSError) as error:
        write_file_atomically(small_disk / "big.bin", b"x" * (3 << 20))
    assert error.value.errno == 28  # ENOSPC
    assert visible(small_disk) == []
    with pytest.raises(OSError):
        write_with(small_disk / "table.parquet", lambda tmp: tmp.write_bytes(b"y" * (3 << 20)))
    assert list(small_disk.iterdir()) == []  # not even the temporary file is left


def test_snakemake_on_a_full_disk_fails_naming_the_path_and_resumes(small_disk, tmp_path):
    plate = tmp_path / "plate.zarr"
    build_tiny_plate(plate)
    workdir = small_disk
    write_config(workdir, make_config(plate))
    # Fill the disk but for a little: the run starts and runs out of space while writing.
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * max(free - (96 << 10), 0))
    failed = run_snakemake(workdir, check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "No space left on device" in output
    assert str(small_disk) in output or "results/" in output
    # Whatever the failed run left under a real name is complete: it reads back.
    for name in visible(small_disk / "results") if (small_disk / "results").exists() else []:
        path = small_disk / "results" / name
        if path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.name == "zarr.json":
            json.loads(path.read_text())

    filler.unlink()
    run_snakemake(workdir, "--rerun-incomplete")
    tables = small_disk / "results" / "tiny" / "tables"
    assert len(pd.read_parquet(tables / "counts.parquet")) > 0
    assert (tables / "summary.csv").is_file()
