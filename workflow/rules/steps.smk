# One rule per planned segment (consecutive steps of one memory type and device), per well.
# The rules are generated from the plan, so `hcs-steps plan` shows exactly these.


for segment in PLAN.segments:

    rule:
        name:
            segment.rule_name
        input:
            segment_input_well(segment),
        output:
            *[
                paths.well_metadata(
                    paths.step_well("{plate}", name, "{row}", "{column}")
                )
                for name in segment.written
            ],
            counts=paths.segment_measurements(
                "{plate}", segment.name, "{row}", "{column}", "counts"
            ),
            objects=paths.segment_measurements(
                "{plate}", segment.name, "{row}", "{column}", "objects"
            ),
            features=paths.segment_measurements(
                "{plate}", segment.name, "{row}", "{column}", "features"
            ),
            feature_summary=paths.segment_measurements(
                "{plate}", segment.name, "{row}", "{column}", "feature_summary"
            ),
            field_qc=paths.segment_measurements(
                "{plate}", segment.name, "{row}", "{column}", "field_qc"
            ),
        log:
            paths.log("{plate}", segment.rule_name, "{row}{column}"),
        benchmark:
            paths.benchmark("{plate}", segment.rule_name, "{row}{column}")
        group:
            "well"
        resources:
            **segment.resources,
        params:
            segment=segment.spec(),
            version=VERSION,
            input_plate=segment_input_plate(segment),
            output_plates=segment_output_plates(segment),
            channels=plate_channels,
        run:
            run_segment(
                params.segment,
                plate=wildcards.plate,
                well=well_name(wildcards),
                input_plate=params.input_plate,
                output_plates=params.output_plates,
                measurements=by_table_kind(output),
                channel_names=params.channels,
                log=log[0],
                plugins=config["plugins"],
                provenance={"hcs_steps_version": params.version},
            )
