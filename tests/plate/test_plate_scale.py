"""Opening a plate costs the same number of metadata reads per well for any number of wells.

Counted, not timed: every file the plate code reads goes through ``Path.read_bytes``, so
counting those calls by file counts the metadata reads.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hcs_steps.plate import open_plate, open_source, read_well, write_plate_metadata, write_well
from hcs_steps.plate.layout import well_from_indices


def small_plate(path: Path, count: int) -> Path:
    wells = [well_from_indices(i // 12, 1 + i % 12) for i in range(count)]
    for well in wells:
        write_well(path, well, np.zeros((2, 1, 1, 8, 8), np.uint16), channel_names=["a"])
    write_plate_metadata(path, name="p", wells=wells)
    return path


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    return {count: small_plate(root / f"p{count}.zarr", count) for count in (3, 24)}


@pytest.fixture
def reads(monkeypatch):
    """``Counter`` of files read, relative to their plate, e.g. ``{"zarr.json": 1}``."""
    counter: Counter = Counter()
    original = Path.read_bytes

    def counting(self):
        parts = self.parts
        plate = next(i for i in range(len(parts) - 1, -1, -1) if parts[i].endswith(".zarr"))
        counter["/".join(parts[plate + 1 :])] += 1
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    return counter


def test_open_plate_reads_the_plate_metadata_once_and_each_well_once(plates, reads):
    for count, plate in plates.items():
        reads.clear()
        layout = open_plate(plate)
        assert len(layout.wells) == count and layout.field_count == 2
        assert reads["zarr.json"] == 1
        # per well: its group, and per field the image group and the array
        assert sum(reads.values()) == 1 + count * (1 + 2 * 2)
        assert max(reads.values()) == 1


def test_planning_opens_a_plate_in_reads_independent_of_its_wells(plates, reads):
    totals = {}
    for count, plate in plates.items():
        reads.clear()
        source = open_source(plate, "ome-zarr")
        assert len(source.wells) == count and source.field_count == 2
        totals[count] = sum(reads.values())
    assert totals[3] == totals[24] == 1 + 1 + 2 * 2  # the plate and its first well


def test_reading_one_well_does_not_open_the_others(plates, reads):
    data = read_well(plates[24], "B12")
    assert data.shape == (2, 1, 1, 8, 8)
    assert reads["zarr.json"] == 1
    # zarr reads the chunks (and probes for v2 metadata) through the same call
    assert all(name.startswith("B/12/") for name in reads if name != "zarr.json"), reads


def test_opening_a_plate_imports_no_zarr(plates):
    """A Snakefile parse opens plates; zarr (most of a second) is for reading chunks."""
    code = (
        "import sys\n"
        "from hcs_steps.plate import open_source\n"
        f"assert len(open_source({str(plates[24])!r}, 'ome-zarr').wells) == 24\n"
        "print(sorted(m for m in ('zarr', 'numcodecs') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
