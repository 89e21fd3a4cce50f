"""The Snakemake workflow's Python: config, plan, segment runs, GPU slots, tables, heatmaps.

Rules in ``workflow/rules`` call only this package; each module has one job:
:mod:`~hcs_steps.workflow.config` (validate), :mod:`~hcs_steps.workflow.plan` (segments),
:mod:`~hcs_steps.workflow.sources` (plates, wells, channels),
:mod:`~hcs_steps.workflow.run_segment` (one segment on one well),
:mod:`~hcs_steps.workflow.gpu_slots` (a GPU per job), :mod:`~hcs_steps.workflow.paths`,
:mod:`~hcs_steps.workflow.tables`, :mod:`~hcs_steps.workflow.heatmap`,
:mod:`~hcs_steps.workflow.versions`, :mod:`~hcs_steps.workflow.joblog` (a log per job),
:mod:`~hcs_steps.workflow.jobs` (other rule bodies) and
:mod:`~hcs_steps.workflow.plan_cli` (``hcs-steps plan``).
"""
