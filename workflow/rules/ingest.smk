# Instrument folder (or the demo) -> OME-Zarr plate, one well per job; then plate metadata.


rule ingest_well:
    output:
        paths.well_metadata(
            paths.well_in(paths.ingested_plate("{plate}"), "{row}", "{column}")
        ),
    log:
        paths.log("{plate}", "ingest_well", "{row}{column}"),
    group:
        "well"
    resources:
        **WELL_RESOURCES,
    params:
        version=VERSION,
        # What was read: a changed time point, path or pattern re-ingests the plate.
        source=lambda wildcards: PLATES[wildcards.plate].source_settings(),
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
        jobs.plate_metadata(
            PLATES[wildcards.plate],
            f"{paths.RESULTS}/{wildcards.plate}/{wildcards.result}.zarr",
            log[0],
        )
