# On a cluster (WELL_CHAIN, common.smk): one rule per well runs its whole chain, ingest (for
# an ingested plate), every segment and the well's tables, in one job and one thread of that
# job's Snakemake. The outputs, logs and stage bodies are those of the per-stage rules.
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
