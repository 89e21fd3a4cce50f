"""The finished wells of a failed batch, kept aside so that its rerun need not redo them.

When a batch job fails, Snakemake removes every output of the job, the wells that finished
beside the failing one too. Before the job fails, each finished well's outputs are moved
here (``.snakemake/hcs-steps/kept-wells/<plate>/<well>``), with a fingerprint of what
made them: the well's params (steps, parameters, how it reads, the hcs-steps version) and
the size and modification time of every input it read, as Snakemake judges inputs. The
batch's next run (a retry or a rerun) moves a well back (and its logs, which that run's
Snakemake removes before it starts) instead of running it only when
the fingerprint is the same; otherwise the kept copy is dropped and the well runs.

A kept well is complete or absent: its manifest, written last, lists what was moved, and a
copy without one (a job killed while keeping) is never restored. A result well is declared
by its ``zarr.json`` and moves with its whole directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from hcs_steps.plate.atomic import write_file_atomically

KEPT_WELLS = Path(".snakemake") / "hcs-steps" / "kept-wells"
MANIFEST = "manifest.json"


def kept_well(plate: str, well: str) -> Path:
    return KEPT_WELLS / plate / well


def fingerprint(params, inputs: list[str]) -> str:
    """A digest of a well's params and the size and mtime of each of its inputs."""
    read = []
    for path in inputs:
        try:
            stat = os.stat(path)
            read.append([path, stat.st_size, stat.st_mtime_ns])
        except FileNotFoundError:
            read.append([path, None, None])
    text = json.dumps([params, read], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _moved(outputs: list[str]) -> list[str]:
    """What moves for the outputs: a result well's directory (for its zarr.json), a file."""
    paths = (str(Path(o).parent) if Path(o).name == "zarr.json" else str(o) for o in outputs)
    return list(dict.fromkeys(paths))


def keep(store: Path, digest: str, outputs: list[str], logs: list[str] = ()) -> None:
    """Move a finished well's outputs into ``store`` and copy its logs there (they stay
    where they are to be read; a rerun's Snakemake removes them), then write its manifest.
    Nothing is kept of a well that lacks one of its outputs."""
    shutil.rmtree(store, ignore_errors=True)
    moved = _moved(outputs)
    if not all(os.path.exists(path) for path in moved):
        return
    store.mkdir(parents=True)
    for index, path in enumerate(moved):
        os.replace(path, store / str(index))
    logs = [log for log in logs if os.path.isfile(log)]
    for index, log in enumerate(logs):
        shutil.copyfile(log, store / f"log{index}")
    manifest = json.dumps({"fingerprint": digest, "moved": moved, "logs": logs})
    write_file_atomically(store / MANIFEST, manifest.encode())


def restore(store: Path, digest: str, outputs: list[str]) -> bool:
    """Move a kept well back where its outputs and logs go, if it was made as it would be
    now. Returns whether it did; a kept copy that does not match is removed.
    """
    manifest = store / MANIFEST
    if not manifest.is_file():
        shutil.rmtree(store, ignore_errors=True)
        return False
    record = json.loads(manifest.read_text())
    moved = _moved(outputs)
    complete = all((store / str(index)).exists() for index in range(len(moved))) and all(
        (store / f"log{index}").is_file() for index in range(len(record["logs"]))
    )
    if record["fingerprint"] != digest or record["moved"] != moved or not complete:
        shutil.rmtree(store)
        return False
    for index, path in enumerate(moved):
        if os.path.isdir(path):  # a result well left without its zarr.json
            shutil.rmtree(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        os.replace(store / str(index), path)
    for index, log in enumerate(record["logs"]):
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        os.replace(store / f"log{index}", log)
    shutil.rmtree(store)
    return True
