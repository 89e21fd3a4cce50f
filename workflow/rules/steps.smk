# One rule per planned segment (consecutive steps of one memory type and device), per well;
# the well's last segment also merges the well's tables (writes_well_tables). The rules are
# generated from the plan, so `hcs-steps plan` shows exactly these. On a cluster the
# well_chain rule (well_chain.smk) runs them all instead, from the same helpers.


if not WELL_CHAIN:
    for segment in PLAN.segments:

        rule:
            name:
                segment.rule_name
            input:
                *segment_inputs(segment),
                *segment_table_inputs(segment),
            output:
                *segment_well_outputs(segment),
                **segment_measurement_outputs(segment),
                **segment_table_outputs(segment),
            log:
                **segment_logs(segment),
            resources:
                **segment.resources,
            params:
                **segment_params(segment),
            run:
                run_segment_job(rule, wildcards, params, output, log)
