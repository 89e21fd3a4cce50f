"""Field quality control: is each field in focus, and how much of it is saturated?

The step measures and passes its stack through unchanged; put it first in a pipeline. The
metrics are :func:`hcs_steps.screen.qc.power_log_log_slope` (focus: the slope of the radial
power spectrum in log-log, more negative when blurred) and the fraction of pixels at the
plane's maximum (saturation). A field is flagged when it is beyond a configured limit; the
workflow can then leave flagged fields out of the well summaries (``qc.exclude_flagged_fields``).
"""

from __future__ import annotations

import pandas as pd

from hcs_steps import memory as mem
from hcs_steps.steps.params import check_number


def check_field_qc_parameters(params) -> None:
    if params["focus_min"] is not None:
        check_number("field_qc", "focus_min", params["focus_min"])
    if params["saturated_max"] is not None:
        check_number("field_qc", "saturated_max", params["saturated_max"], minimum=0, maximum=1)


@mem.numpy
def field_qc_numpy(stack, *, focus_min=None, saturated_max=None):
    """Focus score and saturated fraction of a field's stack; the stack passes unchanged.

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]``, any real dtype.
    focus_min : float, optional
        Flag the field when its focus score (of its sharpest plane) is below this.
    saturated_max : float, optional
        Flag the field when more than this fraction of a plane is at the plane's maximum.

    Returns
    -------
    (numpy.ndarray, dict)
        The stack itself, and ``{"field_qc": table}`` with one row: ``focus_score``,
        ``saturated_fraction``, ``flagged`` and ``flag_reason``.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.random.default_rng(0).integers(0, 4095, (2, 64, 64)).astype(np.uint16)
    >>> stack[:, :32] = 4095  # half of every plane saturated
    >>> out, special = field_qc_numpy(stack, saturated_max=0.1)
    >>> out is stack, special["field_qc"][["flagged", "flag_reason"]].values.tolist()
    (True, [[True, 'saturated 0.50 > 0.1']])
    """
    from hcs_steps.screen.qc import field_qc

    check_field_qc_parameters({"focus_min": focus_min, "saturated_max": saturated_max})
    scores = field_qc(stack)
    reasons = []
    if focus_min is not None and not scores["focus_score"] >= focus_min:
        reasons.append(f"focus {scores['focus_score']:.2f} < {focus_min:g}")
    if saturated_max is not None and scores["saturated_fraction"] > saturated_max:
        reasons.append(f"saturated {scores['saturated_fraction']:.2f} > {saturated_max:g}")
    row = {**scores, "flagged": bool(reasons), "flag_reason": "; ".join(reasons)}
    return stack, {"field_qc": pd.DataFrame([row])}
