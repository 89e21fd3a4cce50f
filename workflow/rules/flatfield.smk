# Flat-field estimates: one plate-level job per plate and flatfield_correct step, from a
# sample of the fields the step's segment reads; every well's job of that segment reads it.

from hcs_steps.workflow.flatfield_job import estimate_memory_mb, estimate_plate
from hcs_steps.workflow.plan import check_estimate_fields

# Refused here, before any job, naming the step's key: a plate with too few fields.
check_estimate_fields(PLAN, PLATES, config)


def segment_illumination(segment):
    """An input and params entry: no file for a segment whose first step applies no flat
    field (a value: Snakemake inspects a function per job), else a function giving the
    directory of the plate's estimate (a function, as a path in params must be where it
    prefixes an input: `snakemake --lint`)."""
    if not segment.steps[0].reads_illumination:
        return []

    def illumination(wildcards):
        return paths.flatfield_dir(wildcards.plate, segment.steps[0].name)

    return illumination


def estimate_input_wells(estimate):
    """Every selected well of the plate, as the estimate's segment reads it."""
    segment = PLAN.segments[estimate.segment]

    def input_wells(wildcards):
        read = segment_input_well(segment)
        return [
            path
            for row, column in plate_wells(wildcards.plate)
            for path in resolved(read, well_wildcards(wildcards.plate, row + column))
        ]

    return input_wells


def estimate_mem_mb(estimate):
    """A resources function: what the plate's sample of fields needs in memory."""

    def mem_mb(wildcards):
        plate = PLATES[wildcards.plate]
        available = len(plate.wells) * plate.source.field_count
        fields = min(available, estimate.step.params["fields"])
        return estimate_memory_mb(fields, plate.source.shape_zyx[1:])

    return mem_mb


for estimate in PLAN.estimates:

    rule:
        name:
            estimate.rule_name
        input:
            estimate_input_wells(estimate),
        output:
            directory(paths.flatfield_dir("{plate}", estimate.step.name)),
            plot=report(
                paths.flatfield_report("{plate}", estimate.step.name, "png"),
                caption="../report/flatfield.rst",
                category="Quality control",
                subcategory="{plate}",
            ),
            table=report(
                paths.flatfield_report("{plate}", estimate.step.name, "csv"),
                caption="../report/flatfield.rst",
                category="Quality control",
                subcategory="{plate}",
            ),
        log:
            paths.log("{plate}", estimate.rule_name, "plate"),
        benchmark:
            paths.benchmark("{plate}", estimate.rule_name, "plate")
        resources:
            mem_mb=estimate_mem_mb(estimate),
        params:
            estimate=estimate.spec(),
            version=VERSION,
            input_plate=segment_input_plate(PLAN.segments[estimate.segment]),
            channels=plate_channels,
        run:
            estimate_plate(
                params.estimate,
                plate=wildcards.plate,
                input_plate=params.input_plate,
                wells=list(PLATES[wildcards.plate].wells),
                channel_names=params.channels,
                out_dir=output[0],
                plot=output.plot,
                table=output.table,
                log=log[0],
            )
