# On a cluster (WELL_CHAIN, common.smk): one rule per well runs its whole chain, ingest (for
# an ingested plate), every segment and the well's tables, in one job and one thread of that
# job's Snakemake. The outputs, logs and stage bodies are those of the per-stage rules.
from hcs_steps.workflow.well_chain import SegmentRun, TablesRun, run_well_chain


def chain_rule_name(ingests):
    return "well_chain_ingested" if ingests else "well_chain"


def chain_well_outputs(ingests):
    """Every well directory the chain writes: the ingested well, each segment's results."""
    ingested = [ingested_well_output()] if ingests else []
    return ingested + [
        output for segment in PLAN.segments for output in segment_well_outputs(segment)
    ]


def chain_named_outputs():
    """Each segment's measurement tables, then the well's tables, by unique names."""
    named = {
        f"{segment.rule_name}_{kind}": path
        for segment in PLAN.segments
        for kind, path in segment_measurement_outputs(segment).items()
    }
    named.update(
        {f"well_tables_{kind}": path for kind, path in well_table_outputs().items()}
    )
    return named


def chain_logs(ingests):
    logs = {"ingest_well": ingest_log()} if ingests else {}
    logs.update({segment.rule_name: segment_log(segment) for segment in PLAN.segments})
    logs["well_tables"] = well_tables_log()
    return logs


def chain_inputs(ingests):
    """An input function: what the chain's stages read that the chain does not write
    itself (a plate read where it is; for an ingested plate, nothing)."""
    patterns = [str(path) for path in chain_well_outputs(ingests)]
    patterns += list(chain_named_outputs().values())

    def inputs(wildcards):
        values = dict(wildcards.items())
        written = {pattern.format(**values) for pattern in patterns}
        read = [
            path
            for segment in PLAN.segments
            for source in segment_inputs(segment)
            for path in ([source(wildcards)] if callable(source) else [source])
        ]
        return [path for path in dict.fromkeys(read) if path not in written]

    return inputs


def chain_resources():
    """What the stages ask for, once: the well's resources, a GPU if a segment needs one."""
    resources = dict(WELL_RESOURCES)
    for segment in PLAN.segments:
        resources.update(segment.resources)
    resources["gpu"] = max(segment.resources.get("gpu", 0) for segment in PLAN.segments)
    return resources


def chain_params(ingests):
    params = {
        "ingests": ingests,
        "version": VERSION,
        "segments": chain_segment_params,
    }
    if ingests:
        params["source"] = ingest_source
    return params


def chain_segment_params(wildcards):
    """Each segment's params (segment_params) with its functions of the wildcards called."""
    return [
        {
            name: value(wildcards) if callable(value) else value
            for name, value in segment_params(segment).items()
        }
        for segment in PLAN.segments
    ]


def run_chain_job(wildcards, params, output, log):
    segments = [
        SegmentRun(
            spec=segment["segment"],
            input_plate=segment["input_plate"],
            output_plates=segment["output_plates"],
            measurements={
                kind: output[f"{planned.rule_name}_{kind}"] for kind in TABLE_KINDS
            },
            log=log[planned.rule_name],
        )
        for planned, segment in zip(PLAN.segments, params.segments)
    ]
    tables = TablesRun(
        inputs={
            kind: [output[f"{planned.rule_name}_{kind}"] for planned in PLAN.segments]
            for kind in TABLE_KINDS
        },
        outputs={kind: output[f"well_tables_{kind}"] for kind in TABLE_KINDS},
        log=log.well_tables,
    )
    run_well_chain(
        PLATES[wildcards.plate],
        well_name(wildcards),
        ingest_log=log.ingest_well if params.ingests else None,
        segments=segments,
        tables=tables,
        plugins=config["plugins"],
        provenance={"hcs_steps_version": params.version},
    )


if WELL_CHAIN:
    for ingests in sorted({plate.ingest for plate in PLATES.values()}):

        rule:
            name:
                chain_rule_name(ingests)
            input:
                chain_inputs(ingests),
            output:
                *chain_well_outputs(ingests),
                **chain_named_outputs(),
            log:
                **chain_logs(ingests),
            benchmark:
                paths.benchmark("{plate}", chain_rule_name(ingests), "{row}{column}")
            wildcard_constraints:
                plate="|".join(
                    re.escape(name)
                    for name, plate in PLATES.items()
                    if plate.ingest == ingests
                ),
            resources:
                **chain_resources(),
            params:
                **chain_params(ingests),
            run:
                run_chain_job(wildcards, params, output, log)
