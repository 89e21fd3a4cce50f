# One rule per planned segment (consecutive steps of one memory type and device), per well.
# The rules are generated from the plan, so `hcs-steps plan` shows exactly these. On a
# cluster the well_chain rule (well_chain.smk) runs them all instead, from the same helpers.


def segment_inputs(segment):
    """What a segment's rule reads (input functions of the wildcards)."""
    return [segment_input_well(segment)]


def segment_well_outputs(segment):
    """The result wells a segment writes, one per written step."""
    return [
        directory(paths.step_well("{plate}", name, "{row}", "{column}"))
        for name in segment.written
    ]


def segment_measurement_outputs(segment):
    """``{kind: file}``: a segment's measurement table of each kind, per well."""
    return {
        kind: paths.segment_measurements(
            "{plate}", segment.name, "{row}", "{column}", kind
        )
        for kind in TABLE_KINDS
    }


def segment_log(segment):
    return paths.log("{plate}", segment.rule_name, "{row}{column}")


def segment_params(segment):
    """The params of a segment's job: its arguments to run_segment, and what reruns it."""
    return {
        "segment": segment.spec(),
        "version": VERSION,
        "input_plate": segment_input_plate(segment),
        "output_plates": segment_output_plates(segment),
        "channels": plate_channels,
    }


if not WELL_CHAIN:
    for segment in PLAN.segments:

        rule:
            name:
                segment.rule_name
            input:
                *segment_inputs(segment),
            output:
                *segment_well_outputs(segment),
                **segment_measurement_outputs(segment),
            log:
                segment_log(segment),
            benchmark:
                paths.benchmark("{plate}", segment.rule_name, "{row}{column}")
            group:
                "well"
            resources:
                **segment.resources,
            params:
                **segment_params(segment),
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
