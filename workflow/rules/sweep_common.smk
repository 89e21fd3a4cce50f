# The sweep's combinations (the config's `sweep` block) and the helpers its rules share.
from hcs_steps.workflow import sweep_jobs
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


def sweep_well_tables_job(wildcards, input, output, log):
    """The sweep_well_tables rule's body: a combination's tables of one well, merged from
    its chain's measurements (run_tables_stage), in a worker where the run has them: a
    sweep has a job per well and combination, which in threads took turns on the GIL of
    Snakemake's scheduler."""
    run_in_worker(
        run_tables_stage,
        f"sweep well tables of plate {wildcards.plate}, combination {wildcards.combination}, "
        f"well {wildcards.row}{wildcards.column}",
        None,
        tables=TablesRun(
            inputs=[str(path) for path in input], output=str(output[0]), log=str(log[0])
        ),
    )


def sweep_tables_job(wildcards, input, output, log):
    """The sweep_tables rule's body: a combination's plate tables (jobs.plate_tables)."""
    run_plate_job(
        jobs.plate_tables,
        f"sweep tables of plate {wildcards.plate}, combination {wildcards.combination}",
        inputs=tables_by_kind(input.wells),
        outputs={
            kind: (str(output[f"{kind}_parquet"]), str(output[f"{kind}_csv"]))
            for kind in (*TABLE_KINDS, "summary")
        },
        log=str(log[0]),
    )


def sweep_summary_job(wildcards, input, output, log, params):
    """The sweep_summary rule's body: every combination's well summary, merged."""
    run_plate_job(
        sweep_jobs.sweep_summary,
        f"sweep summary of plate {wildcards.plate}",
        inputs={name: str(path) for name, path in zip(SWEEP_NAMES, input)},
        table=params.table,
        parquet=str(output.parquet),
        csv=str(output.csv),
        log=str(log[0]),
    )


def sweep_plots_job(wildcards, input, output, log):
    """The sweep_plots rule's body: a PNG per measurement of the sweep summary."""
    run_plate_job(
        sweep_jobs.sweep_plots,
        f"sweep plots of plate {wildcards.plate}",
        summary=str(input[0]),
        out_dir=str(output[0]),
        log=str(log[0]),
    )
