# hcs-steps: high-content-screening processing, one well at a time.
# Table of contents; the rules are in workflow/rules, the Python they call in hcs_steps.workflow.
from snakemake.utils import min_version

min_version("9.0")


# The demo config is the default. A --configfile replaces it rather than being merged into
# it (Snakemake's merge would run the demo plate beside the user's), so that what runs is
# what `hcs-steps plan <configfile>` shows. Cluster jobs get the same --configfiles back.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/well_common.smk"
include: "workflow/rules/sweep_common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/flatfield.smk"
include: "workflow/rules/steps.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/well_chain.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        sweep_outputs(),
