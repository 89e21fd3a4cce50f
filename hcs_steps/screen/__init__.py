"""A screen read against its controls: plate layouts, normalisation, QC and dose response.

Each module has one job: :mod:`~hcs_steps.screen.layout` (what is in each well),
:mod:`~hcs_steps.screen.normalise` (percent of negative control, robust z-score),
:mod:`~hcs_steps.screen.qc` (Z'-factor and SSMD per plate; focus and saturation per field),
:mod:`~hcs_steps.screen.dose` (four-parameter logistic fits) and
:mod:`~hcs_steps.screen.flatfield` (illumination correction from a plate's fields).
"""
