"""The built-in steps: which function implements which step, and which checks it runs.

This module only declares; the implementations live in their family modules and
:mod:`hcs_steps.steps.dispatch` picks one per job.
"""

from __future__ import annotations

from hcs_steps.steps import (
    cells,
    counting,
    features,
    filters,
    illumination,
    morphology,
    normalize,
    projection,
    quality,
    segmentation,
)
from hcs_steps.steps.registry import register_step

BUILTIN_STEPS = {
    "stack_percentile_normalize": (
        normalize.check_normalize_parameters,
        [
            normalize.stack_percentile_normalize_numpy,
            normalize.stack_percentile_normalize_torch,
            normalize.stack_percentile_normalize_cupy,
            normalize.stack_percentile_normalize_jax,
        ],
    ),
    "tophat": (
        morphology.check_tophat_parameters,
        [
            morphology.tophat_numpy,
            morphology.tophat_cupy,
            morphology.tophat_torch,
            morphology.tophat_pyclesperanto,
        ],
    ),
    "gaussian": (
        filters.check_gaussian_parameters,
        [
            filters.gaussian_numpy,
            filters.gaussian_pyclesperanto,
            filters.gaussian_torch,
            filters.gaussian_tensorflow,
            filters.gaussian_jax,
        ],
    ),
    "median": (
        filters.check_median_parameters,
        [
            filters.median_numpy,
            filters.median_pyclesperanto,
            filters.median_torch,
            filters.median_tensorflow,
            filters.median_jax,
        ],
    ),
    "max_projection": (
        None,
        [
            projection.max_projection_numpy,
            projection.max_projection_cupy,
            projection.max_projection_torch,
            projection.max_projection_tensorflow,
            projection.max_projection_jax,
            projection.max_projection_pyclesperanto,
        ],
    ),
    "mean_projection": (
        None,
        [
            projection.mean_projection_numpy,
            projection.mean_projection_cupy,
            projection.mean_projection_torch,
            projection.mean_projection_tensorflow,
            projection.mean_projection_jax,
            projection.mean_projection_pyclesperanto,
        ],
    ),
    "count_cells_single_channel": (
        counting.check_counting_parameters,
        [counting.count_cells_single_channel_numpy, counting.count_cells_single_channel_torch],
    ),
    "segment_nuclei": (
        segmentation.check_segmentation_parameters,
        [segmentation.segment_nuclei_numpy, segmentation.segment_nuclei_torch],
    ),
    "measure_objects": (features.check_measure_parameters, [features.measure_objects_numpy]),
    "grow_cells": (cells.check_grow_parameters, [cells.grow_cells_numpy]),
    "field_qc": (quality.check_field_qc_parameters, [quality.field_qc_numpy]),
    "flatfield_correct": (
        illumination.check_flatfield_parameters,
        [illumination.flatfield_correct_numpy, illumination.flatfield_correct_torch],
    ),
}

# Steps whose output has another shape than their input (one plane from a stack).
RESHAPING_STEPS = frozenset({"max_projection", "mean_projection"})
# Steps that give a field's objects (their ``labels`` special output; a counting step with
# ``return_labels: true``), as ``<step><suffix>``: grow_cells gives cells and their cytoplasm.
OBJECT_SUFFIXES = {
    "segment_nuclei": ("",),
    "count_cells_single_channel": ("",),
    "grow_cells": ("", "_cytoplasm"),
}
# What the workflow passes a step itself: every channel of a field (``channels``), or
# the channel's flat and dark field estimated from the whole plate (``illumination``).
WORKFLOW_INPUTS = {
    "measure_objects": ("channels",),
    "grow_cells": ("channels",),
    "flatfield_correct": ("illumination",),
}

for _name, (_check, _implementations) in BUILTIN_STEPS.items():
    for _implementation in _implementations:
        register_step(
            _name,
            check=_check,
            keeps_shape=_name not in RESHAPING_STEPS,
            workflow_inputs=WORKFLOW_INPUTS.get(_name, ()),
        )(_implementation)
