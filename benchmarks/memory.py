"""Peak memory of a segment job above its imports, against the size of one field.

For each well shape of the issue's table a synthetic one-well OME-Zarr plate is written, then
a fresh process imports everything and warms up (both demo-pipeline segments on a small
well: torch, scipy and scikit-image loaded, first-call caches filled), and runs each segment
of the demo pipeline (torch normalize -> tophat, numpy project -> count) on the well. Before
each segment the kernel's high-water mark of the process's resident memory is reset
(``/proc/self/clear_refs``, Linux); the job's peak is the largest ``VmHWM`` minus the
``VmRSS`` it started from. One field is ``channels x Z x Y x X`` of ``uint16``.

    python benchmarks/memory.py [--quick] [--source DIR] [--workdir DIR] [--out PATH]

The first case, a well of 32 KiB fields, measures the target's constant (what a job holds
whatever its images' size); each other row's bound is 3 fields plus that constant.
``--quick`` measures the same layouts at a quarter of the pixels (a check, not the table's
measurement); ``--source`` measures another checkout. Prints the issue's table (now,
target) and writes JSON (default ``benchmarks/results/memory.json``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_support import REPO, demo_pipeline_config, print_table, write_results

# The constant of the target: what a job holds whatever its images' size (tables,
# metadata, codec and library buffers), measured on a well whose fields are 32 KiB.
CONSTANT_CASE = "2 fields x 4 ch x 64x64 (the constant)"
CASES = {
    CONSTANT_CASE: {
        "fields": 2,
        "channels": 4,
        "z": 1,
        "y": 64,
        "x": 64,
        "objects_per_field": (3, 5),
    },
    "9 fields x 4 ch x 2160x2160": {"fields": 9, "channels": 4, "z": 1, "y": 2160, "x": 2160},
    "2 fields x 2 ch x 40 planes x 1024x1024": {
        "fields": 2,
        "channels": 2,
        "z": 40,
        "y": 1024,
        "x": 1024,
    },
}
MIB = 2**20


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def measure_job(plate: Path, workdir: Path, channels: int) -> dict:
    """In this process: warm up, then each segment's peak resident memory above its start."""
    from hcs_steps.plate import synthetic_plate
    from hcs_steps.workflow.config import load_config
    from hcs_steps.workflow.plan import build_plan
    from hcs_steps.workflow.run_segment import run_segment

    config = load_config(demo_pipeline_config(workdir, plate))
    segments = build_plan(config).segments
    names = [f"c{c}" for c in range(channels)]

    def run_all(input_plate: Path, out: Path, measure: bool) -> list[int]:
        peaks = []
        for segment in segments:
            spec = segment.spec()
            outputs = {name: str(out / f"{name}.zarr") for name in spec["written"]}
            if measure:
                Path("/proc/self/clear_refs").write_text("5")
                start = _status("VmRSS")
            run_segment(
                spec,
                plate="bench",
                well="A01",
                input_plate=str(input_plate),
                output_plates=outputs,
                measurements={
                    k: str(out / f"{segment.name}.{k}.parquet") for k in ("counts", "objects")
                },
                channel_names=names,
            )
            if measure:
                peaks.append(_status("VmHWM") - start)
            input_plate = Path(outputs[segment.output_step])
        return peaks

    warm = workdir / "warm.zarr"
    synthetic_plate(warm, rows=1, columns=1, channels=channels, z=2, y=96, x=96)
    run_all(warm, workdir / "warm-out", measure=False)
    return {"segment_peaks_bytes": run_all(plate, workdir / "out", measure=True)}


def measure(source: Path, root: Path, name: str, shape: dict) -> dict:
    from hcs_steps.plate import synthetic_plate

    workdir = root / name.replace(" ", "")
    plate = workdir / "well.zarr"
    if not (workdir / ".complete").is_file():
        synthetic_plate(plate, rows=1, columns=1, **{"objects_per_field": (20, 40), **shape})
        (workdir / ".complete").touch()
    command = [sys.executable, __file__, "--job", str(plate), str(workdir), str(shape["channels"])]
    env = {"PYTHONPATH": str(source), "HCS_STEPS_VISIBLE_GPUS": "", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{name}: the job failed:\n{result.stderr[-3000:]}")
    peaks = json.loads(result.stdout.strip().splitlines()[-1])["segment_peaks_bytes"]
    field = shape["channels"] * shape["z"] * shape["y"] * shape["x"] * 2
    return {
        "case": name,
        "shape": shape,
        "field_bytes": field,
        "well_bytes": field * shape["fields"],
        "segment_peaks_bytes": peaks,
        "peak_bytes": max(peaks),
        "x_field": round(max(peaks) / field, 2),
        "x_well": round(max(peaks) / (field * shape["fields"]), 2),
    }


def row(result: dict, constant: int) -> dict:
    """The issue's row of a case; the target's bound is 3 fields + the constant case's peak."""
    if result["case"].startswith(CONSTANT_CASE):
        return {
            "what": f"peak memory of a job above its imports, {result['case']}",
            "now": f"{result['peak_bytes'] / MIB:.0f} MiB",
            "target": "(the constant)",
        }
    bound = 3 * result["field_bytes"] + constant
    return {
        "what": f"peak memory of a job above its imports, {result['case']} "
        f"({result['well_bytes'] / MIB:.0f} MiB; one field {result['field_bytes'] / MIB:.0f} MiB)",
        "now": f"{result['peak_bytes'] / MIB:.0f} MiB ({result['x_field']:.1f}x one field, "
        f"{result['x_well']:.2f}x the well; segments "
        f"{', '.join(str(p // MIB) for p in result['segment_peaks_bytes'])})",
        "target": f"<= 3x one field + constant = {bound / MIB:.0f} MiB "
        f"({'met' if result['peak_bytes'] <= bound else 'not met'}), flat in fields and planes",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the pixels")
    parser.add_argument("--source", type=Path, default=REPO, help="hcs-steps checkout to run")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hcs-steps-bench-memory"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--job", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        plate, workdir, channels = args.job
        print(json.dumps(measure_job(Path(plate), Path(workdir), int(channels))))
        return
    results = []
    for name, shape in CASES.items():
        if args.quick and name != CONSTANT_CASE:
            shape = {**shape, "y": shape["y"] // 2, "x": shape["x"] // 2}
            name = f"{name} (quick: half of Y and X)"
        results.append(measure(args.source.resolve(), args.workdir, name, shape))
    constant = results[0]["peak_bytes"]
    rows = [row(result, constant) for result in results]
    print_table(rows)
    out = write_results("memory", rows, {"source": str(args.source), "measured": results}, args.out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
