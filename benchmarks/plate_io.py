"""Plate I/O throughput per codec and chunking, as a ratio to raw ``np.fromfile``/``tofile``.

Writes and reads a slice of a 384-well-sized synthetic plate (default: 8 wells of
2 fields x 2 channels x 8 x 512 x 512 uint16, about 134 MB) with ``write_well`` and
``read_well`` for each codec, and the same bytes with ``ndarray.tofile``/``np.fromfile``
in the same run and directory, so the ratios hold on whatever machine runs it. Each timing
is the best of ``--repeats`` runs (the page cache is warm for every reader alike).

    python benchmarks/plate_io.py [--wells 8] [--size 512] [--repeats 3] [--out PATH]

Prints a table and writes JSON (default ``benchmarks/results/plate_io.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hcs_steps.plate import read_well, write_well
from hcs_steps.plate.codecs import CODECS, DEFAULT_CODEC
from hcs_steps.plate.field_writer import CHUNK_TARGET_BYTES
from hcs_steps.plate.layout import well_from_indices
from hcs_steps.plate.provenance import library_versions
from hcs_steps.plate.synthetic import synthetic_well

RESULTS = Path(__file__).parent / "results" / "plate_io.json"


def best_of(repeats: int, run, *args) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(*args)
        times.append(time.perf_counter() - started)
    return min(times)


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_raw(folder: Path, wells: dict) -> None:
    for well, data in wells.items():
        data.tofile(folder / f"{well}.bin")


def read_raw(folder: Path, wells: dict) -> None:
    for well, data in wells.items():
        np.fromfile(folder / f"{well}.bin", dtype=data.dtype).reshape(data.shape)


def write_plate(plate: Path, wells: dict, codec: str, chunk_planes: int) -> None:
    for well, data in wells.items():
        write_well(
            plate, well, data, channel_names=["c0", "c1"], codec=codec, chunk_planes=chunk_planes
        )


def read_plate(plate: Path, wells: dict) -> None:
    for well, data in wells.items():
        assert read_well(plate, well).shape == data.shape


def measure(wells: dict, work: Path, repeats: int) -> list[dict]:
    nbytes = sum(d.nbytes for d in wells.values())
    raw = work / "raw"
    raw.mkdir()
    raw_write = best_of(repeats, write_raw, raw, wells)
    raw_read = best_of(repeats, read_raw, raw, wells)
    rows = [
        {
            "codec": "raw np.tofile/fromfile",
            "chunk_planes": None,
            "write_s": raw_write,
            "read_s": raw_read,
            "size_ratio": 1.0,
        }
    ]
    for codec in CODECS:
        for chunk_planes in (1, 8):
            plate = work / f"{codec}-{chunk_planes}.zarr"
            write_s = best_of(repeats, write_plate, plate, wells, codec, chunk_planes)
            read_s = best_of(repeats, read_plate, plate, wells)
            for well, data in wells.items():  # the timed reads returned the written pixels
                np.testing.assert_array_equal(read_well(plate, well), data)
            rows.append(
                {
                    "codec": codec,
                    "chunk_planes": chunk_planes,
                    "write_s": write_s,
                    "read_s": read_s,
                    "size_ratio": directory_bytes(plate) / nbytes,
                }
            )
            shutil.rmtree(plate)
    for row in rows:
        row["write_mb_s"] = nbytes / row["write_s"] / 1e6
        row["read_mb_s"] = nbytes / row["read_s"] / 1e6
        row["write_vs_raw"] = raw_write / row["write_s"]
        row["read_vs_raw"] = raw_read / row["read_s"]
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        f"{'codec':<24}{'planes/chunk':>13}{'write MB/s':>12}{'x raw':>7}"
        f"{'read MB/s':>11}{'x raw':>7}{'size':>7}"
    ]
    for r in rows:
        planes = "-" if r["chunk_planes"] is None else str(r["chunk_planes"])
        lines.append(
            f"{r['codec']:<24}{planes:>13}{r['write_mb_s']:>12.0f}"
            f"{r['write_vs_raw']:>7.2f}{r['read_mb_s']:>11.0f}{r['read_vs_raw']:>7.2f}"
            f"{r['size_ratio']:>7.2f}"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=8)
    parser.add_argument("--size", type=int, default=512, help="Y and X of each field")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to write (default: a temporary directory)"
    )
    args = parser.parse_args(argv)

    # A slice of row B of a 384-well plate (16 x 24), with realistic nuclei and noise.
    names = [well_from_indices(1, column) for column in range(1, args.wells + 1)]
    most = max(2, args.size**2 // 4400)  # about 60 nuclei in a 512 x 512 field
    wells = {
        w: synthetic_well(
            w,
            fields=2,
            channels=2,
            z=8,
            y=args.size,
            x=args.size,
            objects_per_field=(most // 2, most),
            seed=0,
        )[0]
        for w in names
    }
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        rows = measure(wells, Path(work), args.repeats)
    result = {
        "benchmark": "plate_io",
        "data": {
            "plate": "384-well layout, row B slice",
            "wells": names,
            "well_shape_fczyx": list(next(iter(wells.values())).shape),
            "dtype": "uint16",
            "total_mb": sum(d.nbytes for d in wells.values()) / 1e6,
        },
        "repeats": args.repeats,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "libraries": library_versions(),
        "defaults": {
            "codec": DEFAULT_CODEC,
            "chunk_target_bytes": CHUNK_TARGET_BYTES,
            "chunk_planes_here": max(1, CHUNK_TARGET_BYTES // (args.size**2 * 2)),
        },
        "rows": rows,
    }
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
