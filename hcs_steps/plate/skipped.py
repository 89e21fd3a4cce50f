"""Wells a run skipped because their data is bad: a zarr group holding only why, no images.

With ``on_bad_well: skip`` a well whose data cannot be read still gets every output
Snakemake expects (each result well's ``zarr.json``), so the plate's other wells, tables
and report complete; but each of its well groups holds only that ``zarr.json``, whose
attributes say why (plate, well, reason) and carry no OME metadata: never an image that
could pass for a result, and no reader takes it for a well. Later steps pass the record on,
the plate metadata leaves the well out, and the tables list it
(:func:`hcs_steps.workflow.tables.skip_record`).
"""

from __future__ import annotations

import json
from pathlib import Path

from hcs_steps.plate.atomic import publish_directory, temporary_sibling, write_file_atomically

# The group metadata of a zarr v3 group (hcs-steps writes NGFF 0.5), and the attribute
# under which the skip is recorded.
GROUP_FILE = "zarr.json"
SKIPPED_KEY = "hcs_steps_skipped"


def write_skipped_well(well_dir, *, plate: str, well: str, reason: str) -> Path:
    """Publish ``well_dir`` (atomically, replacing what is there) as a skipped well.

    Examples
    --------
    >>> import tempfile
    >>> well_dir = Path(tempfile.mkdtemp()) / "p.zarr" / "B" / "03"
    >>> _ = write_skipped_well(well_dir, plate="p", well="B03", reason="chunk c/0/0 is missing")
    >>> skipped_reason(well_dir)
    'chunk c/0/0 is missing'
    >>> sorted(p.name for p in well_dir.iterdir())
    ['zarr.json']
    """
    well_dir = Path(well_dir)
    well_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(well_dir)
    tmp.mkdir()
    record = {"plate": plate, "well": well, "reason": reason}
    group = {"zarr_format": 3, "node_type": "group", "attributes": {SKIPPED_KEY: record}}
    write_file_atomically(tmp / GROUP_FILE, json.dumps(group, indent=1).encode())
    publish_directory(tmp, well_dir)
    return well_dir


def skipped_reason(well_dir) -> str | None:
    """Why the well at ``well_dir`` was skipped, or ``None`` when it was not."""
    metadata = Path(well_dir) / GROUP_FILE
    if not metadata.is_file():
        return None
    try:
        record = json.loads(metadata.read_text()).get("attributes", {}).get(SKIPPED_KEY)
    except (ValueError, AttributeError):  # not ours to judge: the reader reports it
        return None
    return record["reason"] if isinstance(record, dict) else None
