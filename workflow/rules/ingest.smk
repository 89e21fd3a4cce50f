# Instrument folder (or the demo) -> OME-Zarr plate, one well per job; then plate metadata.


# On a cluster the well_chain rule (well_chain.smk) ingests a well with the rest of its chain.
if not WELL_CHAIN:

    rule ingest_well:
        input:
            ingest_input,
        output:
            ingested_well_output(),
        log:
            ingest_log(),
        group:
            "well"
        resources:
            **WELL_RESOURCES,
        params:
            version=VERSION,
            source=ingest_source,
        run:
            jobs.ingest(
                PLATES[wildcards.plate],
                well_name(wildcards),
                paths.ingested_plate(wildcards.plate),
                log[0],
            )


rule plate_metadata:
    input:
        result_wells,
    output:
        f"{paths.RESULTS}/{{plate}}/{{result}}.zarr/zarr.json",
    log:
        paths.log("{plate}", "plate_metadata", "{result}"),
    params:
        version=VERSION,
    run:
        plate_metadata_job(wildcards, log[0])
