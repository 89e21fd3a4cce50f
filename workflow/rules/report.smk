# What each plate's results came from, per plate and per run (hcs_steps.workflow.run_record):
# the validated config, the software versions and how every well and step was made. The
# run id is in the path, so an earlier run's record stays when the config changes.


rule run_record:
    input:
        wells=provenance_wells,
    output:
        config=report(
            paths.run_record("{plate}", RUN_ID, RECORD_FILES["config"]),
            caption="../report/config.rst",
            category="Run",
            subcategory="{plate}",
        ),
        versions=report(
            paths.run_record("{plate}", RUN_ID, RECORD_FILES["versions"]),
            caption="../report/versions.rst",
            category="Run",
            subcategory="{plate}",
        ),
        steps=report(
            paths.run_record("{plate}", RUN_ID, RECORD_FILES["steps"]),
            caption="../report/steps.rst",
            category="Run",
            subcategory="{plate}",
        ),
    log:
        paths.log("{plate}", "run_record", RUN_ID),
    run:
        run_record_job(wildcards.plate, output, log[0])
