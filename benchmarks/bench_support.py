"""What the workflow benchmarks share: synthetic plates, the demo pipeline on them, timed runs.

Every command is timed as a subprocess: its wall time and the CPU time it and its children
used (from ``resource.getrusage``), so a result says both how long a user waits and how much
of the machine the run took; on a shared machine the CPU time is the steadier of the two.
``--source DIR`` runs another hcs-steps checkout (e.g. the commit before a change) with the
same plates and commands, so before and after come from the same run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float

    def as_dict(self) -> dict:
        return {"wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3)}


def timed(command: list[str], *, source: Path = REPO, cwd: Path | None = None) -> Timing:
    """Run ``command`` with ``source``'s hcs_steps first on the path; fail loudly on error."""
    env = {**os.environ, "PYTHONPATH": str(source), "HCS_STEPS_VISIBLE_GPUS": ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def snakemake(source: Path, workdir: Path, *args: str) -> list[str]:
    """The ``snakemake`` command line for ``source``'s Snakefile run in ``workdir``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(source / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]


def synthetic(path: Path, wells: int, objects_per_field=(3, 8), **shape) -> Path:
    """A synthetic plate of ``wells`` wells (96, 384 or 1536 layout), built once per shape."""
    from hcs_steps.plate import synthetic_plate
    from hcs_steps.plate.layout import PLATE_FORMATS

    rows, columns = PLATE_FORMATS[wells]
    marker = path / ".complete"
    if not marker.is_file():
        synthetic_plate(
            path, rows=rows, columns=columns, objects_per_field=objects_per_field, **shape
        )
        marker.touch()
    return path


def demo_pipeline_config(workdir: Path, plate: Path) -> Path:
    """``config/config.yaml`` in ``workdir``: the demo pipeline's steps for its ``nuclei``
    channel on ``plate`` (read in place), whose first channel ``c0`` stands for it.

    The demo's steps for its other channels (the cells grown on channel ``cells``), and
    the steps measuring their objects, have no channel of a synthetic plate to run on."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["plates"] = {"bench": {"path": str(plate), "format": "ome-zarr"}}
    pipeline, left_out = [], set()
    for step in config["pipeline"]:
        channels = step.get("channel", "all")
        if (channels != "all" and "nuclei" not in channels) or step.get("params", {}).get(
            "objects"
        ) in left_out:
            left_out |= {step["name"], f"{step['name']}_cytoplasm"}
            continue
        if channels != "all":
            step["channel"] = ["c0"]  # synthetic channels are c0, c1...
        pipeline.append(step)
    config["pipeline"] = pipeline
    path = workdir / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def machine() -> dict:
    names = ("hcs-steps", "snakemake", "numpy", "zarr", "torch")
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "versions": {name: version(name) for name in names},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write_results(name: str, rows: list[dict], extra: dict, out: Path | None = None) -> Path:
    out = out or RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), **extra, "rows": rows}, indent=2) + "\n")
    return out


def print_table(rows: list[dict]) -> None:
    print("| what | now | target |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['what']} | {row['now']} | {row['target']} |")
