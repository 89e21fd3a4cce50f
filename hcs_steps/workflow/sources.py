"""The configured plates: where each comes from, which wells and channels run, where step 1 reads.

OME-Zarr plates are read in place; every other format (instrument folders, the demo plate)
is first ingested, well by well, into ``results/<plate>/ingested.zarr``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from hcs_steps.workflow import paths
from hcs_steps.workflow.config import ConfigError


@dataclass(frozen=True)
class PlateInput:
    """One configured plate, resolved against its source."""

    name: str
    format: str
    path: str | None
    pattern: str | None
    missing: str
    timepoint: int | None
    layout: str | None
    wells: tuple[str, ...]
    plate_wells: tuple[str, ...]
    channel_names: tuple[str, ...]
    missing_chunks: str = "error"  # a chunk not stored: an error, or read as the fill value
    on_bad_well: str = "fail"  # a well whose data cannot be read: fail the run, or skip it
    # The source resolving opened: the ingest jobs of a threaded run share it instead of each
    # indexing the whole instrument folder again for its one well.
    source: object = field(default=None, compare=False, repr=False)

    @property
    def ingest(self) -> bool:
        return self.format != "ome-zarr"

    @property
    def input_plate(self) -> str:
        return paths.ingested_plate(self.name) if self.ingest else self.path

    def input_well(self, well: str) -> str:
        """The directory of ``well`` in the plate that step 1 reads: where the plate's own
        metadata puts it (other tools write unpadded columns, ``B/3``), canonical in an
        ingested plate."""
        from hcs_steps.plate import parse_well

        relative = getattr(self.source, "well_paths", {}).get(well) if not self.ingest else None
        if relative:
            return f"{self.path}/{relative}"
        return paths.well_in(self.input_plate, *parse_well(well))

    def first_segment_input(self, well: str):
        """The first segment's Snakemake input for ``well``: its directory in the input plate.

        With ``on_bad_well: skip`` a zarr plate's well is every file in its directory
        instead (nothing for a well that is not there: the job then skips it): a Snakemake
        directory's time is its own, so only that way does a fixed chunk rerun a skipped
        well. It costs a directory walk per well when the DAG is built. (An ingested well
        is redone by its ingest job: see :meth:`ingest_input`.)
        """
        directory = self.input_well(well)
        if self.on_bad_well != "skip" or self.ingest:
            return directory
        return _files_under(directory)

    def ingest_input(self, well: str) -> list[str]:
        """The ingest job's Snakemake input for ``well``: nothing (the source is read through
        its settings), but with ``on_bad_well: skip`` the well's source files, so that a
        fixed file re-ingests a skipped well."""
        if self.on_bad_well != "skip" or self.path is None:
            return []
        source = self.open()
        files = [os.path.join(source.path, name) for name in source.well_files(well)]
        return [name for name in files if os.path.isfile(name)]

    def layout_table(self):
        """The configured layout (:meth:`read_layout`), or None for a plate without one."""
        return self.read_layout() if self.layout else None

    def read_layout(self):
        """The plate's layout (every plate well; all samples when none is configured)."""
        import pandas as pd

        from hcs_steps.screen.layout import LAYOUT_COLUMNS, read_layout

        if self.layout:
            return read_layout(self.layout, self.plate_wells)
        return pd.DataFrame(
            {"well": list(self.plate_wells), "condition": "", "compound": "", "role": "sample",
             "concentration": float("nan")}
        )[LAYOUT_COLUMNS]  # fmt: skip

    def reading(self, first_segment: bool) -> dict:
        """How a segment reads its wells (a rerun trigger), as arguments of
        :func:`~hcs_steps.workflow.run_segment.run_segment`: only the first segment reads
        this plate; later ones read results, whose chunks are all stored."""
        return {
            "channel_names": list(self.channel_names),
            "missing_chunks": self.missing_chunks if first_segment else "error",
            "on_bad_well": self.on_bad_well,
            "reads_input_plate": first_segment,
        }

    def source_settings(self) -> dict:
        """The settings that decide what is read from the source (a rerun trigger)."""
        return {
            "format": self.format,
            "path": self.path,
            "pattern": self.pattern,
            "missing": self.missing,
            "timepoint": self.timepoint,
        }

    def open(self, first_well: str | None = None):
        """The plate's :class:`~hcs_steps.plate.Source`, opened once per resolved plate
        (an OME-Zarr plate through ``first_well``: see :func:`~hcs_steps.plate.open_source`)."""
        if self.source is not None:
            return self.source
        from hcs_steps.plate.sources import open_source

        return open_source(
            self.path,
            self.format,
            pattern=self.pattern,
            missing=self.missing,
            timepoint=self.timepoint,
            first_well=first_well,
        )


def _files_under(directory: str) -> list[str]:
    return sorted(
        os.path.join(root, name) for root, _, names in os.walk(directory) for name in names
    )


def _selected(requested, available, what: str, key: str, canonical=lambda x: x) -> tuple:
    if requested == "all":
        return tuple(available)
    chosen = []
    for index, item in enumerate(requested):
        try:
            name = canonical(item)
        except ValueError as error:  # PlateDataError: not a well name at all
            raise ConfigError(f"config key {key}[{index}]: {error}") from None
        if name not in available:
            raise ConfigError(
                f"config key {key}[{index}]: no {what} {item!r}; available: {', '.join(available)}"
            )
        chosen.append(name)
    return tuple(chosen)


def _first_requested(requested) -> str | None:
    """The first of the requested wells in plate order; None for all (or names that are
    not wells, which the selection then reports with their config key)."""
    from hcs_steps.plate import canonical_well
    from hcs_steps.plate.layout import sort_wells

    if requested == "all":
        return None
    try:
        return sort_wells([canonical_well(well) for well in requested])[0]
    except ValueError:
        return None


def resolve_plate(name: str, entry: dict, config: dict) -> PlateInput:
    """Open the source of one ``plates`` entry and apply the well and channel selections."""
    from hcs_steps.plate import PlateDataError, canonical_well
    from hcs_steps.plate.layout import sort_wells

    probe = PlateInput(
        name,
        entry["format"],
        entry.get("path"),
        entry.get("pattern"),
        entry["missing"],
        entry.get("timepoint"),
        entry.get("layout"),
        (),
        (),
        (),
        entry.get("missing_chunks", "error"),
        entry.get("on_bad_well", "fail"),
    )
    try:
        source = probe.open(_first_requested(entry.get("wells", config["wells"])))
    except (PlateDataError, OSError) as error:
        raise ConfigError(f"config key plates.{name}: {error}") from None
    wells_key = f"plates.{name}.wells" if "wells" in entry else "wells"
    wells = _selected(
        entry.get("wells", config["wells"]), list(source.wells), "well", wells_key, canonical_well
    )
    channels = _selected(config["channels"], list(source.channel_names), "channel", "channels")
    if entry.get("layout"):
        # Read now, so that a bad layout stops the run before any job, naming its line.
        from hcs_steps.screen.layout import LayoutError, read_layout

        try:
            read_layout(entry["layout"], source.wells)
        except LayoutError as error:
            raise ConfigError(f"config key plates.{name}.layout: {error}") from None
    for index, step in enumerate(config["pipeline"]):
        if step["channel"] != "all":
            _selected(step["channel"], list(channels), "channel", f"pipeline[{index}].channel")
    return replace(
        probe,
        wells=tuple(sort_wells(wells)),
        plate_wells=tuple(source.wells),
        channel_names=channels,
        source=source,
    )


def resolve_plates(config: dict) -> dict[str, PlateInput]:
    """Every configured plate by name (see :func:`resolve_plate`)."""
    return {name: resolve_plate(name, entry, config) for name, entry in config["plates"].items()}
