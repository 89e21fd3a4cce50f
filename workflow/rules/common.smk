# Load and validate the config, plan the pipeline, and the helpers the rules share.
import re
from pathlib import Path

from hcs_steps.plate import parse_well
from hcs_steps.workflow import jobs, paths
from hcs_steps.workflow.config import validate_config
from hcs_steps.workflow.gpu_slots import slot_count
from hcs_steps.workflow.plan import build_plan, well_resources
from hcs_steps.workflow.run_record import RECORD_FILES, run_id, segment_plates
from hcs_steps.workflow.sources import resolve_plates
from hcs_steps.workflow.tables import TABLE_KINDS
from hcs_steps.workflow.versions import hcs_steps_version, versions_table
from hcs_steps.workflow.well_batches import plate_batches
from hcs_steps.workflow.job_usage import measured
from hcs_steps.workflow.worker_processes import preload_for, worker_pool

# Refused here, before any job runs, with the config key at fault in the message.
validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
PLAN = build_plan(config)
PLATES = resolve_plates(config)
VERSION = hcs_steps_version()
WELL_RESOURCES = well_resources(config, PLAN.use_gpu)
WRITTEN_STEPS = [name for segment in PLAN.segments for name in segment.written]
# On a cluster a well's whole chain is one rule, well_chain (workflow/rules/well_chain.smk):
# each job costs two Snakemake starts there, and a group's rules one more each. Snakemake
# reads the Snakefile before it sets up its executor, so "on a cluster" is: jobs are
# submitted (--jobs, which Snakemake needs for a non-local executor and turns into --cores
# for a local one), or this is a submitted job (remote mode), so both know the same rules.
WELL_CHAIN = workflow.nodes is not None or workflow.remote_exec
# There, cluster.wells_per_job wells share a job, at once (workflow/rules/well_chain.smk).
WELLS_PER_JOB = config["cluster"]["wells_per_job"]
WELL_BATCHES = plate_batches(
    {name: plate.wells for name, plate in PLATES.items()}, WELLS_PER_JOB
)
# Locally with more than one core, segment jobs run in worker processes instead of sharing
# the GIL of Snakemake's process (hcs_steps/workflow/worker_processes.py).
WORKER_PROCESSES = (
    not WELL_CHAIN and config["local"]["worker_processes"] and workflow.cores > 1
)
# What their fork server imports once for all of them: the plan's fork-safe libraries.
WORKER_PRELOAD = preload_for({segment.memory_type for segment in PLAN.segments})
VERSIONS = versions_table()
RUN_ID = run_id(config, VERSIONS)

# The local GPU limit: as many GPU jobs at once as hcs-steps has GPU slots. It cannot live in
# profiles/default, which would also replace the limit of `--profile profiles/slurm-gpu`.
# Not when --resources or a profile gave one, when jobs are submitted (--jobs) or inside a
# cluster job (SLURM chose its GPUs), nor without a GPU (GPU jobs then run on the CPU).
# Snakemake documents no API for this; workflow.global_resources is the long-standing one.
GPU_SLOTS = slot_count()
if (
    GPU_SLOTS
    and workflow.is_main_process
    and workflow.nodes is None
    and "gpu" not in workflow.global_resources
):
    workflow.global_resources["gpu"] = GPU_SLOTS


# Snakemake's job rate limiter (--max-jobs-per-timespan, default 100/1s) paces submissions
# to a cluster. In a local run it only costs: each scheduling round starts a timer for one
# more round, so rounds multiply with finished jobs (snakemake PR #3744), and every round
# stats each input of each ready job: 2419 rounds for the 295 jobs of a 96-well plate.
# Even so a round costs as much as there are ready jobs (a whole plate's first segment), and
# there is a round per job: quadratic in wells. Unless --scheduler-subsample says otherwise,
# each round chooses among a random sample of the ready jobs, enough to fill every core.
# Snakemake reads both settings before the Snakefile could change them; onstart runs after
# the scheduler exists and before its first round (not with --no-hooks).
onstart:
    if workflow.local_exec:
        workflow.scheduler.job_rate_limiter = None
        workflow.scheduler.subsample = workflow.scheduler.subsample or max(
            64, 4 * workflow.cores
        )


# Plate-level rules are quick: on a cluster they run on the submitting node, unqueued.
localrules:
    all,
    plate_metadata,
    plate_tables,
    plate_qc,
    screen_summary,
    heatmaps,
    run_record,


wildcard_constraints:
    plate="|".join(re.escape(name) for name in PLATES),
    row="[A-Z]{1,2}",
    column="[0-9]{2}",
    result="ingested|steps/[A-Za-z][A-Za-z0-9_]*",


def well_name(wildcards):
    return wildcards.row + wildcards.column


def plate_wells(plate):
    """(row, column) of every selected well of a plate."""
    return [parse_well(well) for well in PLATES[plate].wells]


def segment_input_plate(segment):
    """A params function: the plate a segment reads (the input, or the previous result).
    A function even where a wildcard pattern would do: a path in params that prefixes an
    input must be one (`snakemake --lint`), as on a cluster without a shared file system.
    """

    def input_plate(wildcards):
        if segment.index == 0:
            return PLATES[wildcards.plate].input_plate
        return paths.step_plate(
            wildcards.plate, PLAN.segments[segment.index - 1].output_step
        )

    return input_plate


def first_input_well(wildcards):
    """What the first segment reads of a well: the ingested well's metadata (the ingest
    rule's output), or the well of the plate as given: its directory (its own path for the
    well, which may be unpadded, and any zarr version), or with on_bad_well: skip every
    file in it (PlateInput.first_segment_input)."""
    plate = PLATES[wildcards.plate]
    if plate.ingest:
        return paths.well_metadata(plate.input_well(well_name(wildcards)))
    return plate.first_segment_input(well_name(wildcards))


def segment_input_well(segment):
    """An input entry: the well a segment reads. The first segment's is first_input_well;
    a later one's the previous result's well metadata, a wildcard pattern."""
    if segment.index == 0:
        return first_input_well
    previous = PLAN.segments[segment.index - 1].output_step
    return paths.well_metadata(
        paths.step_well("{plate}", previous, "{row}", "{column}")
    )


def segment_reading(segment):
    """A params function: how a segment reads its wells (PlateInput.reading)."""

    def reading(wildcards):
        return PLATES[wildcards.plate].reading(segment.index == 0)

    return reading


def segment_output_plates(segment):
    """A params entry: the plate of each step the segment writes, in the order of
    ``segment.written`` (wildcard patterns; SegmentRun names them)."""
    return [paths.step_plate("{plate}", name) for name in segment.written]


def plate_channels(wildcards):
    return list(PLATES[wildcards.plate].channel_names)


def result_wells(wildcards):
    """Every selected well of the plate ``results/{plate}/{result}.zarr`` (for its metadata)."""
    plate_path = f"{paths.RESULTS}/{wildcards.plate}/{wildcards.result}.zarr"
    return [
        paths.well_metadata(paths.well_in(plate_path, r, c))
        for r, c in plate_wells(wildcards.plate)
    ]


def well_measurements():
    """A well's measurement directory of every segment, as wildcard patterns: no input
    function, whose signature Snakemake would inspect for each of the plate's wells."""
    return [
        paths.segment_measurements("{plate}", segment.name, "{row}", "{column}")
        for segment in PLAN.segments
    ]


def plate_well_tables(wildcards):
    """The tables directory of every selected well of the plate."""
    return [
        paths.well_tables(wildcards.plate, r, c)
        for r, c in plate_wells(wildcards.plate)
    ]


def final_outputs():
    """What `snakemake` builds by default: every plate's results, tables, heatmaps, report files."""
    targets = []
    for plate in PLATES:
        targets += [
            paths.run_record(plate, RUN_ID, name) for name in RECORD_FILES.values()
        ]
        targets += [
            f"{paths.step_plate(plate, name)}/zarr.json" for name in WRITTEN_STEPS
        ]
        # Every result well is a target of its own: Snakemake accepts a missing
        # intermediate file under an existing plate, so a deleted well would stay deleted.
        targets += [
            paths.well_metadata(paths.step_well(plate, name, row, column))
            for name in WRITTEN_STEPS
            for row, column in plate_wells(plate)
        ]
        if PLATES[plate].ingest:
            targets.append(f"{paths.ingested_plate(plate)}/zarr.json")
        targets += [
            paths.plate_table(plate, kind, "csv")
            for kind in ("counts", "objects", "summary")
        ]
        targets.append(paths.heatmaps(plate))
        if PLATES[plate].layout:
            targets.append(paths.plate_table(plate, "qc", "csv"))
    if len(PLATES) > 1:
        targets.append(f"{paths.RESULTS}/screen/summary.csv")
    return targets


def plate_tables_job(input, output, log, plate):
    """The plate_tables rule's body: every table kind, the summary, the plate's layout."""
    run_plate_job(
        jobs.plate_tables,
        f"plate_tables of plate {plate.name}",
        inputs=tables_by_kind(input.wells),
        outputs={
            kind: (str(output[kind]), str(output[f"{kind}_csv"]))
            for kind in [*TABLE_KINDS, "summary"]
        },
        log=str(log),
        layout=plate.layout_table(),
        exclude_flagged_fields=config["qc"]["exclude_flagged_fields"],
    )


def plate_metadata_job(wildcards, log):
    """The plate_metadata rule's body."""
    run_plate_job(
        jobs.plate_metadata,
        f"plate_metadata of {wildcards.result} of plate {wildcards.plate}",
        plate=PLATES[wildcards.plate],
        plate_path=f"{paths.RESULTS}/{wildcards.plate}/{wildcards.result}.zarr",
        log=str(log),
    )


def heatmaps_job(wildcards, input, output, params, log):
    """The heatmaps rule's body."""
    run_plate_job(
        jobs.heatmaps,
        f"heatmaps of plate {wildcards.plate}",
        summary=str(input[0]),
        out_dir=str(output[0]),
        plate=PLATES[wildcards.plate],
        layout=params.layout,
        log=str(log[0]),
    )


def plate_qc_job(wildcards, input, output, params, log):
    """The plate_qc rule's body."""
    run_plate_job(
        jobs.plate_qc,
        f"plate_qc of plate {wildcards.plate}",
        summary=str(input[0]),
        settings=params.qc,
        outputs={
            "qc": (str(output.qc), str(output.qc_csv)),
            "dose_response": (str(output.dose), str(output.dose_csv)),
        },
        plots={"qc": str(output.qc_plot), "dose_response": str(output.dose_plots)},
        log=str(log[0]),
    )


def screen_summary_job(input, output, log):
    """The screen_summary rule's body."""
    run_plate_job(
        jobs.screen_summary,
        "screen_summary",
        summaries={plate: str(path) for plate, path in zip(PLATES, input)},
        plates=PLATES,
        outputs={"summary": (str(output.summary), str(output.summary_csv))},
        out_dir=str(output.heatmaps),
        log=str(log[0]),
    )


def plate_layout_file(wildcards):
    """The plate's layout CSV as an input (edits rerun the tables), or nothing."""
    layout = PLATES[wildcards.plate].layout
    return [layout] if layout else []


def record_segments(plate):
    """Each segment's input plate and result plates, for the plate's run record."""
    return segment_plates(PLAN.segments, plate, PLATES[plate].input_plate)


def provenance_wells(wildcards):
    """Every result well of the plate (ingested ones too): what its run record reads."""
    plates = [paths.step_plate(wildcards.plate, name) for name in WRITTEN_STEPS]
    if PLATES[wildcards.plate].ingest:
        plates.append(paths.ingested_plate(wildcards.plate))
    return [
        paths.well_metadata(paths.well_in(plate, row, column))
        for plate in plates
        for row, column in plate_wells(wildcards.plate)
    ]


def run_record_job(plate, output, log):
    """The run_record rule's body: the plate's record of this run (config, versions, steps)."""
    ingested = paths.ingested_plate(plate) if PLATES[plate].ingest else None
    outputs = {name: str(output[name]) for name in RECORD_FILES}
    segments = record_segments(plate)
    run_plate_job(
        jobs.run_record,
        f"run_record of plate {plate}",
        config=dict(config),
        versions=VERSIONS,
        plate=plate,
        wells=PLATES[plate].wells,
        segments=segments,
        ingested=ingested,
        outputs=outputs,
        log=str(log),
    )


def run_in_worker(function, job, usage_file, **kwargs):
    """``function(**kwargs)``, a job's work: in a worker process when
    WORKER_PROCESSES, otherwise in the job's thread. ``job`` names the job in the error of
    a dead worker; ``usage_file`` (unless None) gets the job's time, CPU time and peak
    memory (JobUsage.write), in place of a Snakemake benchmark file, whose sampling of the
    whole process tree cost more CPU than the jobs' scheduling and measured the process
    rather than the job."""
    if WORKER_PROCESSES:
        pool = worker_pool(workflow.cores, WORKER_PRELOAD)
        return pool.run(function, job=job, usage_file=usage_file, **kwargs)[0]
    with measured(peak=False) as usage:
        result = function(**kwargs)
    if usage_file is not None:
        usage.write(usage_file)
    return result


def run_plate_job(function, job, **kwargs):
    """A plate-level rule's work (a function of hcs_steps.workflow.jobs) where the segment
    jobs run theirs (run_in_worker): in a worker, these merge tables, write metadata and
    draw plots beside each other and beside Snakemake's scheduler, not in turns on one
    GIL, and in a worker whose libraries the segments imported already."""
    return run_in_worker(function, job, None, **kwargs)
