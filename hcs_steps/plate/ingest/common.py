"""Small helpers shared by the instrument readers."""

from __future__ import annotations

from pathlib import Path

from hcs_steps.plate.errors import PlateDataError

TIFF_SUFFIXES = (".tif", ".tiff")


def tiff_files(root: Path) -> list[Path]:
    """All TIFF files under ``root`` (recursively, hidden files skipped), sorted."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in TIFF_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def ordered(values) -> list:
    """Distinct values sorted numerically where they are numbers, else as text.

    Examples
    --------
    >>> ordered(["10", "2", "1"]), ordered(["DAPI", "GFP", "DAPI"])
    ([1, 2, 10], ['DAPI', 'GFP'])
    """
    distinct = set(values)
    if all(isinstance(v, int) or str(v).isdigit() for v in distinct):
        return sorted(int(v) for v in distinct)
    return sorted(str(v) for v in distinct)


def pick_timepoint(timepoints: set, timepoint, where: str):
    """The single time point to ingest: the only one there is, or the requested one."""
    if timepoint is not None:
        if timepoint not in timepoints:
            raise PlateDataError(
                f"{where} has no time point {timepoint}; it has {ordered(timepoints)}"
            )
        return timepoint
    if len(timepoints) > 1:
        raise PlateDataError(
            f"{where} holds time points {ordered(timepoints)}; plates have no time axis: "
            "choose one with the plate's timepoint: <n> in the config (timepoint=<n> in Python)"
        )
    return next(iter(timepoints))
