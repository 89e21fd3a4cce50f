"""A folder of TIFFs named by a user-supplied regular expression.

The pattern is matched (in full) against each TIFF's path relative to the folder, with
``/`` separators. Named groups: ``well`` (``B03``) or ``row`` (letter or 1-based number)
and ``column``; optionally ``field``, ``channel`` and ``z``. Channel values become channel
names; numbers sort numerically.
"""

from __future__ import annotations

import re
from pathlib import Path

from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.ingest.common import ordered, tiff_files
from hcs_steps.plate.ingest.index import PlaneIndex, tiff_source
from hcs_steps.plate.layout import canonical_well, row_index, well_from_indices


def compile_pattern(pattern: str) -> re.Pattern:
    """Compile ``pattern``, checking it names a well (``well`` or ``row`` + ``column``).

    Examples
    --------
    >>> compile_pattern(r"(?P<well>[A-P]\\d\\d)_f(?P<field>\\d+)\\.tif").groupindex.keys()
    dict_keys(['well', 'field'])
    >>> compile_pattern(r"(?P<plate>.+)\\.tif")
    Traceback (most recent call last):
    ...
    hcs_steps.plate.errors.PlateDataError: pattern '(?P<plate>.+)\\\\.tif' must have a named \
group 'well', or 'row' and 'column'; it has ['plate']
    """
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise PlateDataError(f"pattern {pattern!r} is not a regular expression: {error}") from None
    names = set(compiled.groupindex)
    if "well" not in names and not {"row", "column"} <= names:
        raise PlateDataError(
            f"pattern {pattern!r} must have a named group 'well', or 'row' "
            f"and 'column'; it has {sorted(names)}"
        )
    return compiled


def _well(match: re.Match) -> str:
    if "well" in match.re.groupindex:
        return canonical_well(match["well"])
    row = match["row"]
    index = int(row) - 1 if row.isdigit() else row_index(row.upper())
    return well_from_indices(index, int(match["column"]))


def pattern_source(root: Path, pattern: str, *, missing: str = "error"):
    """Index the TIFFs under ``root`` whose relative path matches ``pattern``."""
    compiled = compile_pattern(pattern)
    files, examples = {}, []
    for path in tiff_files(root):
        relative = path.relative_to(root).as_posix()
        match = compiled.fullmatch(relative)
        if match is None:
            examples.append(relative)
            continue
        groups = match.groupdict()
        try:
            well = _well(match)
        except PlateDataError as error:
            raise PlateDataError(f"{relative}: {error}") from None
        key = (
            well,
            groups.get("field") or "1",
            groups.get("channel") or "1",
            groups.get("z") or "0",
        )
        key = key[:1] + tuple(int(v) if v.isdigit() else v for v in key[1:])
        if key in files:
            raise PlateDataError(
                f"{files[key]} and {path} both match well {key[0]}, field "
                f"{key[1]}, channel {key[2]}, plane {key[3]}"
            )
        files[key] = path
    if not files:
        raise PlateDataError(
            f"no TIFF under {root} matches {pattern!r}; files look like {examples[:3]}"
        )
    channels = ordered(k[2] for k in files)
    index = PlaneIndex(
        root=root,
        name=root.name,
        files=files,
        fields=ordered(k[1] for k in files),
        channels=channels,
        planes=ordered(k[3] for k in files),
        channel_names=[str(c) for c in channels],
    )
    return tiff_source(index, format="pattern", missing=missing)
