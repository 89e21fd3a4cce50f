# The sweep's combinations (the config's `sweep` block) and the helpers its rules share.
from hcs_steps.workflow.sweep_config import plan_sweep

# Refused here, like the rest of the config, before any job runs.
SWEEP = plan_sweep(config, PLAN, PLATES)
SWEEP_NAMES = [c.name for c in SWEEP.combinations] if SWEEP else []


def sweep_wells(plate):
    return [parse_well(well) for well in SWEEP.wells[plate]]


def sweep_segment_input_plate(segment):
    """The plate a sweep segment reads: the input, or the previous segment of its chain."""

    def input_plate(wildcards):
        if segment.index == 0:
            return PLATES[wildcards.plate].input_plate
        owner = SWEEP.chain_owner(segment.index, wildcards.chain)
        previous = PLAN.segments[segment.index - 1]
        return owner.step_plate(wildcards.plate, previous.index, previous.output_step)

    return input_plate


def sweep_segment_input_well(segment):
    def input_well(wildcards):
        if segment.index == 0:
            return first_input_well(wildcards)
        plate = sweep_segment_input_plate(segment)(wildcards)
        return paths.well_metadata(
            paths.well_in(plate, wildcards.row, wildcards.column)
        )

    return input_well


def sweep_segment_spec(segment):
    """The segment as the chain's combination configures it (a rerun trigger, like steps)."""

    def spec(wildcards):
        owner = SWEEP.chain_owner(segment.index, wildcards.chain)
        return owner.plan.segments[segment.index].spec()

    return spec


def sweep_segment_output_plates(segment):
    def output_plates(wildcards):
        return {
            name: paths.chain_step_plate(wildcards.plate, wildcards.chain, name)
            for name in segment.written
        }

    return output_plates


def sweep_well_measurements(wildcards):
    """The combination's measurement directory of every segment, for one well."""
    combination = SWEEP.combination(wildcards.combination)
    return [
        combination.measurements(
            wildcards.plate, segment.index, wildcards.row, wildcards.column
        )
        for segment in PLAN.segments
    ]


def sweep_plate_well_tables(wildcards):
    """The combination's tables directory of every well of the sweep."""
    return [
        paths.sweep_well_tables(wildcards.plate, wildcards.combination, r, c)
        for r, c in sweep_wells(wildcards.plate)
    ]


def sweep_summaries(wildcards):
    """Every combination's well summary, in the order of SWEEP_NAMES."""
    return [
        paths.sweep_table(wildcards.plate, name, "summary", "parquet")
        for name in SWEEP_NAMES
    ]


def sweep_outputs():
    """What a sweep adds to `snakemake`'s default targets (nothing without one)."""
    if not SWEEP:
        return []
    targets = []
    for plate in PLATES:
        targets += [paths.sweep_combinations(plate), paths.sweep_plots(plate)]
        targets += [paths.sweep_summary(plate, ext) for ext in ("csv", "parquet")]
        targets += [
            paths.sweep_table(plate, name, kind, "csv")
            for name in SWEEP_NAMES
            for kind in ("counts", "objects", "summary")
        ]
    return targets


def run_sweep_segment_job(rule_name, wildcards, params, output, log):
    """A sweep segment rule's body: the segment (run_segment_stage, in a worker where the
    run has them: run_in_worker) on the combination's chain."""
    run_in_worker(
        run_segment_stage,
        f"sweep segment {params.segment['segment']} of plate {wildcards.plate}, "
        f"chain {wildcards.chain}, well {params.well}",
        paths.chain_benchmark(
            wildcards.plate,
            wildcards.chain,
            rule_name.removeprefix("sweep_"),
            f"{wildcards.row}{wildcards.column}",
        ),
        segment=SegmentRun(
            spec=params.segment,
            input_plate=params.input_plate,
            output_plates=params.output_plates,
            measurements=str(output.measurements),
            log=str(log[0]),
            reading={"channel_names": params.channels},
            illumination=params.illumination,
        ),
        plate=wildcards.plate,
        well=params.well,
        plugins=config["plugins"],
        provenance={"hcs_steps_version": params.version},
    )
