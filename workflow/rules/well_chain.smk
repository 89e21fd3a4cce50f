# On a cluster (WELL_CHAIN, common.smk) a well's whole chain, ingest (for an ingested plate),
# every segment and the well's tables, is one job: each job costs two Python starts there.
# The outputs, logs and stage bodies are those of the per-stage rules.
#
# cluster.wells_per_job: 1 - one rule per well, well_chain, its stages in one thread of the
# job's Snakemake.
if WELL_CHAIN and WELLS_PER_JOB == 1:
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


# Above 1 - one rule per batch of wells (WELL_BATCHES: the plate's selected wells in plate
# order, cut into consecutive runs of wells_per_job), its wells' chains at once, one thread
# each, asking for their resources added up. A batch's outputs are all its wells' outputs,
# so a failed batch is rerun whole, and --rerun-incomplete reruns only unfinished batches.
if WELL_CHAIN and WELLS_PER_JOB > 1:
    for batch in WELL_BATCHES:

        rule:
            name:
                batch.rule_name
            input:
                batch_inputs(batch),
            output:
                *batch_well_outputs(batch),
                **batch_by_well(chain_named_outputs(), batch),
            log:
                **batch_by_well(chain_logs(PLATES[batch.plate].ingest), batch),
            benchmark:
                paths.benchmark(batch.plate, "well_batch", batch.name)
            resources:
                **batch_job_resources(batch),
            params:
                **batch_params(batch),
            run:
                run_batch_job(params, output, log, resources)
