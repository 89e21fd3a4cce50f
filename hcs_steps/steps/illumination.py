"""Flat-field correction of a field's stack: ``(stack - darkfield) / flatfield``.

The flat (and dark) field of a channel is estimated once per plate from a sample of its
fields (:mod:`hcs_steps.screen.flatfield`, run by the workflow's plate-level rule); the
workflow hands this step each channel's pair as the ``illumination`` input, in the step's
memory type and on its device. The estimation parameters are parameters of this step too,
so that the config names the whole correction in one place and a change of any of them
reruns the estimate and the wells that apply it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from hcs_steps import memory as mem
from hcs_steps.screen.flatfield import METHODS, MIN_FIELDS
from hcs_steps.steps.params import check_choice, check_number, parameter_error

STEP = "flatfield_correct"


def check_flatfield_parameters(params: Mapping[str, object]) -> None:
    """``method`` is one of the estimators, ``darkfield`` only with ``basic`` (and basicpy
    installed), ``sigma`` unset or > 0, ``fields`` an integer >= the estimate's minimum.

    Examples
    --------
    >>> check_flatfield_parameters(
    ...     {"method": "median", "darkfield": True, "sigma": None, "fields": 64})
    Traceback (most recent call last):
    ...
    ValueError: step 'flatfield_correct': parameter 'darkfield' must be false with method 'median' (it estimates no dark field; use method 'basic'), got True
    """  # noqa: E501
    check_choice(STEP, "method", params["method"], METHODS)
    if not isinstance(params["darkfield"], bool):
        raise parameter_error(STEP, "darkfield", params["darkfield"], "true or false")
    if params["darkfield"] and params["method"] != "basic":
        raise parameter_error(
            STEP,
            "darkfield",
            params["darkfield"],
            f"false with method {params['method']!r} (it estimates no dark field; use "
            "method 'basic')",
        )
    if params["method"] == "basic" and importlib.util.find_spec("basicpy") is None:
        raise parameter_error(
            STEP, "method", "basic", "an installed estimator (pip install 'hcs-steps[flatfield]')"
        )
    if params["sigma"] is not None:
        check_number(STEP, "sigma", params["sigma"], minimum=0, strict_minimum=True)
    check_number(STEP, "fields", params["fields"], minimum=MIN_FIELDS, integer=True)


@mem.numpy
def flatfield_correct_numpy(
    stack, *, illumination, method="median", darkfield=False, sigma=None, fields=64
):
    """Divide every plane by the channel's flat field (after subtracting its dark field).

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]``, any real dtype.
    illumination : (numpy.ndarray, numpy.ndarray)
        The channel's flat field (``[Y, X]``, mean 1) and dark field (``[Y, X]``), given
        by the workflow from the plate's estimate.
    method : {"median", "basic"}
        How the plate's estimate is made: ``median`` (per-pixel median of the sampled
        fields, each divided by its own median, smoothed by a Gaussian of ``sigma``) or
        ``basic`` (BaSiC through basicpy).
    darkfield : bool
        Estimate and subtract a dark field too (``basic`` only).
    sigma : float, optional
        The ``median`` estimate's smoothing in pixels; an eighth of the field by default.
    fields : int
        How many fields of the plate the estimate samples, spread evenly over the
        selected wells (fewer when the plate has fewer).

    Returns
    -------
    numpy.ndarray
        ``float32``, the stack's shape. A mean-1 flat field keeps the intensity scale.

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.array([[0.5, 1.5]], np.float32)
    >>> flatfield_correct_numpy(np.full((2, 1, 2), 30.0), illumination=(flat, 0 * flat))[0]
    array([[60., 20.]], dtype=float32)
    """
    from hcs_steps.screen.flatfield import correct

    check_flatfield_parameters(
        {"method": method, "darkfield": darkfield, "sigma": sigma, "fields": fields}
    )
    flat, dark = illumination
    return correct(stack, flat, dark)


@mem.torch
def flatfield_correct_torch(
    stack, *, illumination, method="median", darkfield=False, sigma=None, fields=64
):
    """The torch version of :func:`flatfield_correct_numpy` (same result within float32
    rounding, on the job's device).

    Examples
    --------
    >>> import torch
    >>> flat = torch.tensor([[0.5, 1.5]])
    >>> flatfield_correct_torch(torch.full((2, 1, 2), 30.0), illumination=(flat, 0 * flat))[0]
    tensor([[60., 20.]])
    """
    import torch

    check_flatfield_parameters(
        {"method": method, "darkfield": darkfield, "sigma": sigma, "fields": fields}
    )
    flat, dark = illumination
    stack = stack.to(torch.float32)
    return (stack - dark.to(torch.float32)) / flat.to(torch.float32)
