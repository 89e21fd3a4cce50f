# Parameter sweeps (the config's `sweep` block): every combination on the sweep's wells.
# A segment's result is addressed by the digest of every parameter that reaches it
# (hcs_steps.workflow.sweep), so combinations that agree up to a segment share one job per
# well, and those that agree with the plain pipeline use its results under steps/. The
# rules exist without a sweep too, so that `snakemake --lint` sees them; nothing asks for
# their outputs then.
from hcs_steps.workflow import sweep_jobs
from hcs_steps.workflow.sweep import DIGEST_LENGTH


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


for segment in PLAN.segments:

    rule:
        name:
            f"sweep_{segment.rule_name}"
        input:
            sweep_segment_input_well(segment),
            segment_illumination(segment),
        output:
            *[
                paths.well_metadata(
                    paths.well_in(
                        paths.chain_step_plate("{plate}", "{chain}", name),
                        "{row}",
                        "{column}",
                    )
                )
                for name in segment.written
            ],
            measurements=directory(
                paths.chain_measurements(
                    "{plate}", "{chain}", segment.name, "{row}", "{column}"
                )
            ),
        log:
            paths.log("{plate}", f"sweep_{segment.rule_name}", "{chain}.{row}{column}"),
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
            well=well_name,
            illumination=segment_illumination(segment),
        run:
            run_sweep_segment_job(rule, wildcards, params, output, log)


rule sweep_well_tables:
    input:
        sweep_well_measurements,
    output:
        directory(
            paths.sweep_well_tables("{plate}", "{combination}", "{row}", "{column}")
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
        sweep_well_tables_job(wildcards, input, output, log)


rule sweep_tables:
    input:
        wells=sweep_plate_well_tables,
    output:
        **{
            f"{kind}_{ext}": paths.sweep_table("{plate}", "{combination}", kind, ext)
            for kind in (*TABLE_KINDS, "summary")
            for ext in ("parquet", "csv")
        },
    log:
        paths.log("{plate}", "sweep_tables", "{combination}"),
    params:
        version=VERSION,
    run:
        sweep_tables_job(wildcards, input, output, log)


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
        sweep_summary_job(wildcards, input, output, log, params)


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
        sweep_plots_job(wildcards, input, output, log)


rule sweep:
    input:
        sweep_outputs(),
