"""Wells a run skipped because their data is bad: a directory holding only why, no images.

With ``on_bad_well: skip`` a well whose data cannot be read still gets every output
Snakemake expects, so the plate's other wells, tables and report complete; but each of its
well directories holds only :data:`SKIPPED_FILE` (plate, well, reason), never an image
that could pass for a result, and no zarr metadata, so no reader takes it for a well. Later
steps pass the record on, the plate metadata leaves the well out, and the tables list it
(:func:`hcs_steps.workflow.tables.skip_record`).
"""

from __future__ import annotations

import json
from pathlib import Path

from hcs_steps.plate.atomic import publish_directory, temporary_sibling, write_file_atomically

SKIPPED_FILE = "hcs_steps_skipped.json"


def write_skipped_well(well_dir, *, plate: str, well: str, reason: str) -> Path:
    """Publish ``well_dir`` (atomically, replacing what is there) as a skipped well.

    Examples
    --------
    >>> import tempfile
    >>> well_dir = Path(tempfile.mkdtemp()) / "p.zarr" / "B" / "03"
    >>> _ = write_skipped_well(well_dir, plate="p", well="B03", reason="chunk c/0/0 is missing")
    >>> skipped_reason(well_dir)
    'chunk c/0/0 is missing'
    """
    well_dir = Path(well_dir)
    well_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(well_dir)
    tmp.mkdir()
    record = {"plate": plate, "well": well, "reason": reason}
    write_file_atomically(tmp / SKIPPED_FILE, json.dumps(record, indent=1).encode())
    publish_directory(tmp, well_dir)
    return well_dir


def skipped_reason(well_dir) -> str | None:
    """Why the well at ``well_dir`` was skipped, or ``None`` when it was not."""
    record = Path(well_dir) / SKIPPED_FILE
    if not record.is_file():
        return None
    return json.loads(record.read_text())["reason"]


def skipped_well_dirs(root) -> list[Path]:
    """Every skipped well directory (``<plate>.zarr/<row>/<column>``) under ``root``."""
    return sorted(record.parent for record in Path(root).glob(f"**/*.zarr/*/*/{SKIPPED_FILE}"))
