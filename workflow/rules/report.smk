# What the run used: the validated config and the software versions, for snakemake --report.


rule software_versions:
    output:
        report(
            paths.versions(),
            caption="../report/versions.rst",
            category="Run",
        ),
    log:
        f"{paths.LOGS}/software_versions.log",
    params:
        version=VERSION,
    run:
        jobs.software_versions(output[0], log[0])


rule config_copy:
    output:
        report(paths.config_copy(), caption="../report/config.rst", category="Run"),
    log:
        f"{paths.LOGS}/config_copy.log",
    params:
        config=config,
    run:
        jobs.config_copy(params.config, output[0], log[0])
