"""Plate layouts: what is in each well, read from a CSV and checked against the plate.

A layout has a ``well`` column and any of ``condition``, ``compound``, ``concentration`` and
``role`` (``negative``, ``positive``, ``sample`` or ``empty``). Wells the layout does not list
are samples with no condition. Every problem is refused naming the file, the line and what
is wrong; nothing else in the file is guessed at.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd

from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.layout import canonical_well

ROLES = ("negative", "positive", "sample", "empty")
LAYOUT_COLUMNS = ["well", "condition", "compound", "concentration", "role"]


class LayoutError(ValueError):
    """A layout file that cannot be used; the message names the file and line."""


def read_layout(path, plate_wells) -> pd.DataFrame:
    """The layout of every well in ``plate_wells``, from the CSV at ``path``.

    Returns one row per plate well with the columns of :data:`LAYOUT_COLUMNS`
    (``concentration`` a float, NaN where none is given; ``role`` ``sample`` where none is).

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "layout.csv")
    >>> _ = open(path, "w").write("well,role,compound,concentration\\nB02,negative,DMSO,\\n"
    ...                            "B3,sample,drug1,0.5\\n")
    >>> read_layout(path, ["B02", "B03", "B04"])[["well", "role", "concentration"]].values.tolist()
    [['B02', 'negative', nan], ['B03', 'sample', 0.5], ['B04', 'sample', nan]]
    """
    path = Path(path)
    plate_wells = list(plate_wells)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            _check_header(path, header)
            rows = [(number, row) for number, row in enumerate(reader, start=2)]
    except OSError as error:
        raise LayoutError(f"layout {path}: {error.strerror or error}") from None
    listed = {}
    for number, raw in rows:
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        well = _well(path, number, row.get("well", ""), plate_wells)
        if well in listed:
            raise LayoutError(
                f"layout {path} line {number}: well {well} is listed twice "
                f"(first on line {listed[well]['line']})"
            )
        listed[well] = {
            "line": number,
            "condition": row.get("condition", ""),
            "compound": row.get("compound", ""),
            "concentration": _concentration(path, number, row.get("concentration", "")),
            "role": _role(path, number, row.get("role", "")),
        }
    table = [
        {
            "well": well,
            "condition": listed.get(well, {}).get("condition", ""),
            "compound": listed.get(well, {}).get("compound", ""),
            "concentration": listed.get(well, {}).get("concentration", math.nan),
            "role": listed.get(well, {}).get("role", "sample"),
        }
        for well in plate_wells
    ]
    return pd.DataFrame(table, columns=LAYOUT_COLUMNS)


def _check_header(path: Path, header: list[str]) -> None:
    if "well" not in header:
        raise LayoutError(f"layout {path} line 1: no 'well' column (columns: {header})")
    unknown = [name for name in header if name not in LAYOUT_COLUMNS]
    if unknown:
        raise LayoutError(
            f"layout {path} line 1: unknown column(s) {unknown}; a layout has "
            f"{', '.join(LAYOUT_COLUMNS)}"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise LayoutError(f"layout {path} line 1: column(s) {repeated} appear twice")


def _well(path: Path, number: int, text: str, plate_wells: list[str]) -> str:
    try:
        well = canonical_well(text)
    except PlateDataError as error:
        raise LayoutError(f"layout {path} line {number}: {error}") from None
    if well not in plate_wells:
        raise LayoutError(
            f"layout {path} line {number}: well {well} is not on the plate "
            f"({len(plate_wells)} wells, {plate_wells[0]}..{plate_wells[-1]})"
        )
    return well


def _concentration(path: Path, number: int, text: str) -> float:
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise LayoutError(
            f"layout {path} line {number}: concentration {text!r} is not a number >= 0"
        )
    return value


def _role(path: Path, number: int, text: str) -> str:
    role = text.lower() or "sample"
    if role not in ROLES:
        raise LayoutError(
            f"layout {path} line {number}: role {text!r} is not one of {', '.join(ROLES)}"
        )
    return role
