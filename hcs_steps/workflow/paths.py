"""Where the workflow writes, in one place (Snakemake patterns and Python callers alike).

Every function takes plain strings, so passing ``"{plate}"`` gives a Snakemake pattern and
passing ``"demo"`` gives a concrete path. Wells appear in two spellings: ``{row}/{column}``
inside an OME-Zarr plate (``B/03``, the OME-NGFF layout) and ``{row}{column}`` in table
file names (``B03``).

Examples
--------
>>> step_well("demo", "count", "B", "03")
'results/demo/steps/count.zarr/B/03'
>>> well_metadata(step_well("demo", "count", "B", "03"))
'results/demo/steps/count.zarr/B/03/zarr.json'
>>> table_file(well_tables("{plate}", "{row}", "{column}"), "counts")
'results/{plate}/tables/wells/{row}{column}/counts.parquet'

A well's tables of one segment, or of the whole well, are one directory holding a Parquet
file per table kind (:func:`table_file`): one output per well for Snakemake instead of one
per kind, which is most of what planning a large plate costs per well.
"""

from __future__ import annotations

RESULTS = "results"
LOGS = "logs"


def ingested_plate(plate: str) -> str:
    return f"{RESULTS}/{plate}/ingested.zarr"


def step_plate(plate: str, step: str) -> str:
    return f"{RESULTS}/{plate}/steps/{step}.zarr"


def well_in(plate_path: str, row: str, column: str) -> str:
    return f"{plate_path}/{row}/{column}"


def step_well(plate: str, step: str, row: str, column: str) -> str:
    return well_in(step_plate(plate, step), row, column)


def well_metadata(well_path: str) -> str:
    """The file that stands for a written well in the rules: its group metadata.

    Declaring the well directory itself (``directory()``) makes Snakemake put a
    ``.snakemake_timestamp`` file inside the OME-Zarr well group. hcs-steps writes every
    result plate as NGFF 0.5 (zarr v3), whose group metadata is ``zarr.json``; it is
    published with the rest of the well, so it exists exactly when the well is complete.
    """
    return f"{well_path}/zarr.json"


def measurements_dir(plate: str, segment: str) -> str:
    return f"{RESULTS}/{plate}/measurements/{segment}"


def segment_measurements(plate: str, segment: str, row: str, column: str) -> str:
    """The directory of a well's measurement tables from one segment."""
    return f"{measurements_dir(plate, segment)}/{row}{column}"


def well_tables(plate: str, row: str, column: str) -> str:
    """The directory of a well's tables: every segment's measurements, merged per kind."""
    return f"{RESULTS}/{plate}/tables/wells/{row}{column}"


def table_file(directory: str, kind: str) -> str:
    """The table of ``kind`` in a directory of tables (measurements or a well's tables)."""
    return f"{directory}/{kind}.parquet"


def plate_table(plate: str, kind: str, extension: str) -> str:
    return f"{RESULTS}/{plate}/tables/{kind}.{extension}"


def heatmaps(plate: str) -> str:
    return f"{RESULTS}/{plate}/heatmaps"


def flatfield_dir(plate: str, step: str) -> str:
    """A plate's flat-field estimate for one ``flatfield_correct`` step (npy and JSON)."""
    return f"{RESULTS}/{plate}/flatfield/{step}"


def flatfield_report(plate: str, step: str, extension: str) -> str:
    """The estimate's profile plot (``png``) and per-channel numbers (``csv``)."""
    return f"{flatfield_dir(plate, step)}.{extension}"


def sweep_dir(plate: str) -> str:
    return f"{RESULTS}/{plate}/sweep"


def chain_dir(plate: str, chain: str) -> str:
    """Results of sweep segments whose parameters differ from the plain run's, by digest."""
    return f"{sweep_dir(plate)}/chains/{chain}"


def chain_step_plate(plate: str, chain: str, step: str) -> str:
    return f"{chain_dir(plate, chain)}/steps/{step}.zarr"


def chain_measurements_dir(plate: str, chain: str, segment: str) -> str:
    return f"{chain_dir(plate, chain)}/measurements/{segment}"


def chain_measurements(plate: str, chain: str, segment: str, row: str, column: str) -> str:
    return f"{chain_measurements_dir(plate, chain, segment)}/{row}{column}"


def chain_benchmark(plate: str, chain: str, rule: str, name: str) -> str:
    return f"{chain_dir(plate, chain)}/benchmarks/{rule}/{name}.tsv"


def sweep_well_tables(plate: str, combination: str, row: str, column: str) -> str:
    return f"{sweep_dir(plate)}/{combination}/tables/wells/{row}{column}"


def sweep_table(plate: str, combination: str, kind: str, extension: str) -> str:
    return f"{sweep_dir(plate)}/{combination}/tables/{kind}.{extension}"


def sweep_combinations(plate: str) -> str:
    return f"{sweep_dir(plate)}/combinations.csv"


def sweep_summary(plate: str, extension: str) -> str:
    return f"{sweep_dir(plate)}/summary.{extension}"


def sweep_plots(plate: str) -> str:
    return f"{sweep_dir(plate)}/plots"


def run_record(plate: str, run: str, name: str) -> str:
    """A file of a plate's provenance record of one run (see hcs_steps.workflow.run_record)."""
    return f"{RESULTS}/{plate}/provenance/{run}/{name}"


def log(plate: str, rule: str, name: str) -> str:
    return f"{LOGS}/{plate}/{rule}/{name}.log"


def benchmark(plate: str, rule: str, name: str) -> str:
    return f"{RESULTS}/{plate}/benchmarks/{rule}/{name}.tsv"
