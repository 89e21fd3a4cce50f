"""Well names and plate coordinates: ``"B03"`` <-> row ``"B"``, column ``"03"``.

Rows are ``A``..``Z`` then ``AA``..``AF`` (1536-well plates have 32 rows); columns are
numbered from 1 and written with two digits. A well's group lives at ``<plate>/<row>/<column>``
as in the OME-NGFF plate layout. Names are validated before they touch the file system,
so ``"../x"`` or an absolute path never becomes a path.
"""

from __future__ import annotations

import re
from pathlib import Path

from hcs_steps.plate.errors import PlateDataError

# (rows, columns) of the standard SBS plate formats, smallest first.
PLATE_FORMATS = {96: (8, 12), 384: (16, 24), 1536: (32, 48)}
MAX_ROWS, MAX_COLUMNS = PLATE_FORMATS[1536]

_WELL = re.compile(r"([A-Z]{1,2})(\d{1,2})")


def row_name(index: int) -> str:
    """Name of the row at zero-based ``index``: 0 -> ``"A"``, 25 -> ``"Z"``, 26 -> ``"AA"``.

    Examples
    --------
    >>> row_name(1), row_name(26), row_name(31)
    ('B', 'AA', 'AF')
    """
    if not 0 <= index < MAX_ROWS:
        raise PlateDataError(f"row index {index} is outside a 1536-well plate (0..{MAX_ROWS - 1})")
    return chr(65 + index) if index < 26 else "A" + chr(65 + index - 26)


def row_index(name: str) -> int:
    """Zero-based index of a row name (inverse of :func:`row_name`).

    Examples
    --------
    >>> row_index("A"), row_index("AF")
    (0, 31)
    """
    index = ord(name[-1]) - 65 + (26 if len(name) == 2 else 0)
    if not re.fullmatch(r"[A-Z]|A[A-Z]", name) or index >= MAX_ROWS:
        raise PlateDataError(f"{name!r} is not a plate row: expected A..Z or AA..AF")
    return index


def column_name(number: int) -> str:
    """Two-digit name of the one-based column ``number``.

    Examples
    --------
    >>> column_name(3), column_name(48)
    ('03', '48')
    """
    if not 1 <= number <= MAX_COLUMNS:
        raise PlateDataError(f"column {number} is outside a 1536-well plate (1..{MAX_COLUMNS})")
    return f"{number:02d}"


def parse_well(well: str) -> tuple[str, str]:
    """Split a well name into its ``(row, column)`` group names, validating it.

    Accepts ``"B03"``, ``"B3"`` and ``"AA01"``; refuses anything that is not a coordinate
    on a plate of up to 1536 wells (path separators, ``..``, lower case, ``"Q99"``).

    Examples
    --------
    >>> parse_well("B3"), parse_well("AA01")
    (('B', '03'), ('AA', '01'))
    >>> parse_well("../x")
    Traceback (most recent call last):
    ...
    hcs_steps.plate.errors.PlateDataError: '../x' is not a well name: expected a row \
A..Z or AA..AF followed by a column 1..48, e.g. 'B03' or 'AA01'
    """
    match = _WELL.fullmatch(well) if isinstance(well, str) else None
    if (
        match is None
        or not 1 <= int(match[2]) <= MAX_COLUMNS
        or not re.fullmatch(r"[A-Z]|A[A-F]", match[1])
    ):
        raise PlateDataError(
            f"{well!r} is not a well name: expected a row A..Z or AA..AF followed by "
            f"a column 1..{MAX_COLUMNS}, e.g. 'B03' or 'AA01'"
        )
    return match[1], column_name(int(match[2]))


def canonical_well(well: str) -> str:
    """The canonical spelling of a well name (two-digit column).

    Examples
    --------
    >>> canonical_well("B3")
    'B03'
    """
    row, column = parse_well(well)
    return row + column


def well_from_indices(row: int, column: int) -> str:
    """Well name from a zero-based row index and a one-based column number.

    Examples
    --------
    >>> well_from_indices(0, 1), well_from_indices(26, 48)
    ('A01', 'AA48')
    """
    return row_name(row) + column_name(column)


def plate_well_path(plate: str | Path, well: str) -> Path:
    """The directory of ``well``'s group inside ``plate`` (``<plate>/<row>/<column>``).

    Examples
    --------
    >>> plate_well_path("out/plate.zarr", "C07").as_posix()
    'out/plate.zarr/C/07'
    """
    row, column = parse_well(well)
    return Path(plate) / row / column


def plate_grid(wells: list[str]) -> tuple[list[str], list[str]]:
    """Row and column names of the smallest standard plate format holding ``wells``.

    Examples
    --------
    >>> rows, columns = plate_grid(["B03", "H12"])
    >>> len(rows), len(columns)
    (8, 12)
    >>> [len(names) for names in plate_grid(["AF48"])]
    [32, 48]
    """
    if not wells:
        raise PlateDataError("a plate needs at least one well")
    needed_rows = 1 + max(row_index(parse_well(w)[0]) for w in wells)
    needed_columns = max(int(parse_well(w)[1]) for w in wells)
    for n_rows, n_columns in PLATE_FORMATS.values():
        if needed_rows <= n_rows and needed_columns <= n_columns:
            break
    return [row_name(i) for i in range(n_rows)], [column_name(j) for j in range(1, n_columns + 1)]


def sort_wells(wells) -> list[str]:
    """Canonical well names in plate order (row by row), duplicates removed.

    Examples
    --------
    >>> sort_wells(["B1", "A12", "AA01", "B01", "A2"])
    ['A02', 'A12', 'B01', 'AA01']
    """
    names = {canonical_well(w) for w in wells}
    return sorted(names, key=lambda w: (row_index(parse_well(w)[0]), parse_well(w)[1]))
