# Parameter sweeps (the config's `sweep` block): every combination on the sweep's wells.
# A segment's result is addressed by the digest of every parameter that reaches it
# (hcs_steps.workflow.sweep), so combinations that agree up to a segment share one job per
# well, and those that agree with the plain pipeline use its results under steps/. The
# rules exist without a sweep too, so that `snakemake --lint` sees them; nothing asks for
# their outputs then.
from hcs_steps.workflow import sweep_jobs
from hcs_steps.workflow.sweep import DIGEST_LENGTH
from hcs_steps.workflow.sweep_config import plan_sweep

# Refused here, like the rest of the config, before any job runs.
SWEEP = plan_sweep(config, PLAN, PLATES)
SWEEP_NAMES = [c.name for c in SWEEP.combinations] if SWEEP else []


localrules:
    sweep,
    sweep_tables,
    sweep_combinations,
    sweep_summary,
    sweep_plots,


wildcard_constraints:
    chain=f"[0-9a-f]{{{DIGEST_LENGTH}}}",
    # matches no path at all without a sweep
    combination="|".join(re.escape(name) for name in SWEEP_NAMES) or "(?!)",


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
        plate = sweep_segment_input_plate(segment)(wildcards)
        return paths.well_in(plate, wildcards.row, wildcards.column)

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


def sweep_well_measurements(kind):
    def measurements(wildcards):
        combination = SWEEP.combination(wildcards.combination)
        return [
            combination.measurements(
                wildcards.plate, segment.index, wildcards.row, wildcards.column, kind
            )
            for segment in PLAN.segments
        ]

    return measurements


def sweep_plate_well_tables(kind):
    def well_tables(wildcards):
        return [
            paths.sweep_well_table(wildcards.plate, wildcards.combination, r, c, kind)
            for r, c in sweep_wells(wildcards.plate)
        ]

    return well_tables


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


for segment in PLAN.segments:

    rule:
        name:
            f"sweep_{segment.rule_name}"
        input:
            sweep_segment_input_well(segment),
        output:
            *[
                directory(
                    paths.well_in(
                        paths.chain_step_plate("{plate}", "{chain}", name),
                        "{row}",
                        "{column}",
                    )
                )
                for name in segment.written
            ],
            counts=paths.chain_measurements(
                "{plate}", "{chain}", segment.name, "{row}", "{column}", "counts"
            ),
            objects=paths.chain_measurements(
                "{plate}", "{chain}", segment.name, "{row}", "{column}", "objects"
            ),
        log:
            paths.log("{plate}", f"sweep_{segment.rule_name}", "{chain}.{row}{column}"),
        benchmark:
            paths.chain_benchmark(
                "{plate}", "{chain}", segment.rule_name, "{row}{column}"
            )
        group:
            "well"
        resources:
            **segment.resources,
        params:
            segment=sweep_segment_spec(segment),
            version=VERSION,
            input_plate=sweep_segment_input_plate(segment),
            output_plates=sweep_segment_output_plates(segment),
            channels=plate_channels,
        run:
            run_segment(
                params.segment,
                plate=wildcards.plate,
                well=well_name(wildcards),
                input_plate=params.input_plate,
                output_plates=params.output_plates,
                measurements={"counts": output.counts, "objects": output.objects},
                channel_names=params.channels,
                log=log[0],
                plugins=config["plugins"],
                provenance={"hcs_steps_version": params.version},
            )


rule sweep_well_tables:
    input:
        counts=sweep_well_measurements("counts"),
        objects=sweep_well_measurements("objects"),
    output:
        counts=paths.sweep_well_table(
            "{plate}", "{combination}", "{row}", "{column}", "counts"
        ),
        objects=paths.sweep_well_table(
            "{plate}", "{combination}", "{row}", "{column}", "objects"
        ),
    log:
        paths.log("{plate}", "sweep_well_tables", "{combination}.{row}{column}"),
    group:
        "well"
    resources:
        **WELL_RESOURCES,
    params:
        version=VERSION,
    run:
        jobs.well_tables(
            {"counts": input.counts, "objects": input.objects},
            {"counts": output.counts, "objects": output.objects},
            log[0],
        )


rule sweep_tables:
    input:
        counts=sweep_plate_well_tables("counts"),
        objects=sweep_plate_well_tables("objects"),
    output:
        **{
            f"{kind}_{ext}": paths.sweep_table("{plate}", "{combination}", kind, ext)
            for kind in ("counts", "objects", "summary")
            for ext in ("parquet", "csv")
        },
    log:
        paths.log("{plate}", "sweep_tables", "{combination}"),
    params:
        version=VERSION,
    run:
        jobs.plate_tables(
            {"counts": input.counts, "objects": input.objects},
            {
                kind: (output[f"{kind}_parquet"], output[f"{kind}_csv"])
                for kind in ("counts", "objects", "summary")
            },
            log[0],
        )


rule sweep_combinations:
    output:
        report(
            paths.sweep_combinations("{plate}"),
            caption="../report/sweep_combinations.rst",
            category="Sweep",
            subcategory="{plate}",
        ),
    log:
        paths.log("{plate}", "sweep_combinations", "plate"),
    params:
        table=lambda wildcards: SWEEP.table(),
    run:
        sweep_jobs.combinations_table(params.table, output[0], log[0])


rule sweep_summary:
    input:
        sweep_summaries,
    output:
        parquet=paths.sweep_summary("{plate}", "parquet"),
        csv=report(
            paths.sweep_summary("{plate}", "csv"),
            caption="../report/sweep_summary.rst",
            category="Sweep",
            subcategory="{plate}",
        ),
    log:
        paths.log("{plate}", "sweep_summary", "plate"),
    params:
        table=lambda wildcards: SWEEP.table(),
        version=VERSION,
    run:
        sweep_jobs.sweep_summary(
            dict(zip(SWEEP_NAMES, input)),
            params.table,
            output.parquet,
            output.csv,
            log[0],
        )


rule sweep_plots:
    input:
        paths.sweep_summary("{plate}", "parquet"),
    output:
        report(
            directory(paths.sweep_plots("{plate}")),
            patterns=["{name}.png"],
            caption="../report/sweep_plots.rst",
            category="Sweep",
            subcategory="{plate}",
        ),
    log:
        paths.log("{plate}", "sweep_plots", "plate"),
    params:
        version=VERSION,
    run:
        sweep_jobs.sweep_plots(input[0], output[0], log[0])


rule sweep:
    input:
        sweep_outputs(),
