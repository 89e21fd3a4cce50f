"""A run's provenance, kept per plate and per run: ``results/<plate>/provenance/<run>/``.

A run is identified (:func:`run_id`) by what decides its results: the validated config and
the versions of the software that computes them. A rerun with the same of both writes the
same record, so Snakemake finds it done and nothing piles up; a changed config or an
upgraded library gets a folder of its own, beside the older records, which stay.

Each record holds the config as the run used it, the software versions, and
``steps.csv``: for every well and step how the plate's results were made, read from the
provenance each result well carries (step, registered function, library and why, device,
parameters, channels, input and output checksums, library versions). A well that an earlier
run made and this one kept is listed as it was made.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pandas as pd
import yaml

from hcs_steps.plate.atomic import write_with
from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.layout import plate_well_path
from hcs_steps.plate.provenance import recorded_provenance, well_checksum
from hcs_steps.plate.skipped import skipped_reason

RUN_ID_LENGTH = 12
RECORD_FILES = {
    "config": "config.yaml",
    "versions": "software_versions.csv",
    "steps": "steps.csv",
}
STEP_COLUMNS = [
    "plate",
    "well",
    "segment",
    "step",
    "function",
    "library",
    "library_reason",
    "device",
    "parameters",
    "channels",
    "written",
    "input_checksum",
    "output_checksum",
    "hcs_steps_version",
    "library_versions",
]


def run_id(config: dict, versions: pd.DataFrame) -> str:
    """A short digest of the config and the software versions (the platform string aside:
    it names the kernel release, which a reboot changes without changing any result).

    Examples
    --------
    >>> versions = pd.DataFrame({"software": ["numpy", "platform"], "version": ["2.1", "x"]})
    >>> a = run_id({"pipeline": []}, versions)
    >>> len(a), a == run_id({"pipeline": []}, versions.replace("x", "y"))
    (12, True)
    >>> a == run_id({"pipeline": [{"name": "smooth"}]}, versions)
    False
    """
    software = {
        row.software: row.version for row in versions.itertuples() if row.software != "platform"
    }
    document = json.dumps({"config": config, "software": software}, sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()[:RUN_ID_LENGTH]


@dataclass(frozen=True)
class SegmentPlates:
    """Where one segment of the plan reads a well from and writes it to."""

    name: str
    input_plate: str
    written: dict[str, str]  # step name -> result plate


def segment_plates(segments, plate: str, input_plate: str) -> list[SegmentPlates]:
    """Each of the plan's ``segments`` with the plate it reads (``input_plate`` for the
    first, the previous segment's output step after it) and the result plates it writes."""
    from hcs_steps.workflow import paths

    plates = []
    for segment in segments:
        written = {name: paths.step_plate(plate, name) for name in segment.written}
        plates.append(SegmentPlates(segment.name, input_plate, written))
        input_plate = written[segment.output_step]
    return plates


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _row(plate, well, segment, step, written, input_checksum, record) -> dict:
    return {
        "plate": plate,
        "well": well,
        "segment": segment,
        "step": step.get("name", record.get("step")),
        "function": step.get("step", record.get("function")),
        "library": step.get("memory_type", ""),
        "library_reason": step.get("backend_reason", ""),
        "device": record.get("device", ""),
        "parameters": _json(step.get("params", record.get("parameters", {}))),
        "channels": _json(step.get("channels", "all")),
        "written": written,
        "input_checksum": input_checksum,
        "output_checksum": record.get("output_checksum", "") if written else "",
        "hcs_steps_version": (record.get("library_versions") or {}).get("hcs-steps", ""),
        "library_versions": _json(record.get("library_versions", {})),
    }


def _segment_spec(records: dict[str, dict], segment: SegmentPlates, well: str) -> dict:
    """The segment as it ran, from its first written well's provenance."""
    step, record = next(iter(records.items()))
    if "segment" not in record:
        raise PlateDataError(
            f"{segment.written[step]}, well {well}: no hcs-steps segment provenance in the "
            "well's zarr.json; it was not written by this workflow (rerun its segment)"
        )
    return record["segment"]


def _skipped(segment: SegmentPlates, well: str) -> bool:
    """Whether the run skipped ``well`` (every segment passes a skip on to the last)."""
    written = next(iter(segment.written.values()))
    return skipped_reason(plate_well_path(written, well)) is not None


def steps_table(
    plate: str, wells: list[str], segments: list[SegmentPlates], ingested: str | None = None
) -> pd.DataFrame:
    """One row per well and step of the plate's results, from the wells' own provenance.

    ``ingested`` is the ingested plate, when the plate was ingested (its wells' ingest
    provenance becomes a row of their own). A segment's input checksum is the one its input
    well was written with, or, for a well of a plate hcs-steps did not write, computed.
    A well skipped for bad data (``on_bad_well: skip``) has no rows: nothing ran on it,
    and the plate's ``field_qc`` table says why.
    """
    rows = []
    for well in wells:
        if segments and _skipped(segments[-1], well):
            continue
        if ingested is not None:
            record = recorded_provenance(ingested, well)
            rows.append(
                _row(plate, well, "ingest", {}, True, record.get("input_checksum", ""), record)
            )
        for segment in segments:
            input_checksum = well_checksum(segment.input_plate, well)
            records = {
                name: recorded_provenance(path, well) for name, path in segment.written.items()
            }
            spec = _segment_spec(records, segment, well)
            for step in spec["steps"]:
                written = step["name"] in records
                record = records[step["name"]] if written else next(iter(records.values()))
                rows.append(_row(plate, well, segment.name, step, written, input_checksum, record))
    return pd.DataFrame(rows, columns=STEP_COLUMNS)


def write_run_record(
    config: dict, versions: pd.DataFrame, steps: pd.DataFrame, outputs: dict[str, str]
) -> None:
    """Write the record's files (``outputs``: the keys of :data:`RECORD_FILES`), atomically."""
    write_with(
        outputs["config"], lambda tmp: tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    )
    write_with(outputs["versions"], lambda tmp: versions.to_csv(tmp, index=False))
    write_with(outputs["steps"], lambda tmp: steps.to_csv(tmp, index=False))
