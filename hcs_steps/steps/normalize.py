"""``stack_percentile_normalize``: stretch a stack between two of its exact percentiles.

Every implementation finds the same two order statistics of the whole stack (by sorting or
partitioning, never sampling, so the result is deterministic at any size) and interpolates
between them like ``numpy.percentile``'s default ``"linear"`` method, in Python floats.
The stretch itself runs in ``float32`` in every library, then rounds to ``uint16``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from hcs_steps import memory as mem
from hcs_steps.steps.params import check_number, check_order

STEP = "stack_percentile_normalize"
UINT16_MAX = 65535


def check_normalize_parameters(params: Mapping[str, object]) -> None:
    """Percentiles in ``[0, 100]`` with low < high; targets in ``[0, 65535]`` with min < max.

    Examples
    --------
    >>> check_normalize_parameters(
    ...     {"low_percentile": 1, "high_percentile": 99, "target_min": 0, "target_max": 255})
    >>> check_normalize_parameters(
    ...     {"low_percentile": 1, "high_percentile": 120, "target_min": 0, "target_max": 255}
    ... )  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: step 'stack_percentile_normalize': parameter 'high_percentile' must be ...
    """
    for name in ("low_percentile", "high_percentile"):
        check_number(STEP, name, params[name], minimum=0, maximum=100)
    for name in ("target_min", "target_max"):
        check_number(STEP, name, params[name], minimum=0, maximum=UINT16_MAX)
    check_order(
        STEP,
        "low_percentile",
        params["low_percentile"],
        "high_percentile",
        params["high_percentile"],
    )
    check_order(STEP, "target_min", params["target_min"], "target_max", params["target_max"])


def _checked(stack, low_percentile, high_percentile, target_min, target_max) -> None:
    check_normalize_parameters(
        {
            "low_percentile": low_percentile,
            "high_percentile": high_percentile,
            "target_min": target_min,
            "target_max": target_max,
        }
    )


def exact_percentile(order_statistic: Callable[[int], float], size: int, q: float) -> float:
    """The ``q``-th percentile of ``size`` values, given their ``k``-th smallest by index.

    Matches ``numpy.percentile(values, q)`` (``method="linear"``).

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([7.0, 1.0, 4.0, 10.0])
    >>> ordered = np.sort(values)
    >>> exact_percentile(lambda k: ordered[k], values.size, 25)
    3.25
    >>> float(np.percentile(values, 25))
    3.25
    """
    position = q / 100 * (size - 1)
    below = math.floor(position)
    above = min(below + 1, size - 1)
    fraction = position - below
    low_value = float(order_statistic(below))
    if fraction == 0:
        return low_value
    return low_value + (float(order_statistic(above)) - low_value) * fraction


def stretch_constants(low: float, high: float, target_min: float, target_max: float):
    """``(offset, scale)`` such that ``(x - offset) * scale + target_min`` maps low..high.

    A flat stack (``low == high``) gets ``scale == 0``: every pixel becomes ``target_min``.

    Examples
    --------
    >>> stretch_constants(100.0, 200.0, 0, 1000)
    (100.0, 10.0)
    """
    scale = 0.0 if high == low else (target_max - target_min) / (high - low)
    return low, scale


def _percentiles(sorted_values, low_percentile, high_percentile):
    size = int(sorted_values.shape[0])
    return (
        exact_percentile(lambda k: sorted_values[k], size, low_percentile),
        exact_percentile(lambda k: sorted_values[k], size, high_percentile),
    )


def _stretch_to_uint16(xp, stack, low, high, target_min, target_max):
    """The stretch in ``float32``, clipped and rounded, in a numpy-like namespace ``xp``."""
    offset, scale = stretch_constants(low, high, target_min, target_max)
    f32 = xp.float32
    stretched = (stack.astype(f32) - f32(offset)) * f32(scale) + f32(target_min)
    return xp.rint(xp.clip(stretched, f32(target_min), f32(target_max))).astype(xp.uint16)


@mem.numpy
def stack_percentile_normalize_numpy(
    stack, *, low_percentile=1.0, high_percentile=99.0, target_min=0.0, target_max=65535.0
):
    """Stretch a stack linearly so its low/high percentiles map to the target range.

    Percentiles are exact and taken over the whole stack (all planes together); values
    outside them are clipped. This is the reference the other libraries are tested against:
    they find identical percentiles and differ from it by at most 1 in the output.

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]`` stack, any real dtype.
    low_percentile, high_percentile : float
        Percentiles in ``[0, 100]``, low < high; computed like ``numpy.percentile``.
    target_min, target_max : float
        The output range, inside ``[0, 65535]``, min < max.

    Returns
    -------
    numpy.ndarray
        ``uint16``, same shape: ``(x - p_low) / (p_high - p_low)`` stretched to the target
        range in ``float32``, clipped and rounded to nearest (ties to even). A flat stack
        becomes ``target_min``.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.arange(101, dtype=np.uint16).reshape(1, 1, 101)
    >>> out = stack_percentile_normalize_numpy(
    ...     stack, low_percentile=10, high_percentile=90, target_min=0, target_max=800)
    >>> out.dtype, out[0, 0, [0, 10, 50, 90, 100]].tolist()
    (dtype('uint16'), [0, 0, 400, 800, 800])
    """
    _checked(stack, low_percentile, high_percentile, target_min, target_max)
    import numpy as np

    flat = stack.reshape(-1)
    size = flat.size
    positions = {math.floor(q / 100 * (size - 1)) for q in (low_percentile, high_percentile)}
    kth = sorted({k for p in positions for k in (p, min(p + 1, size - 1))})
    partitioned = np.partition(flat, kth)
    low, high = _percentiles(partitioned, low_percentile, high_percentile)
    return _stretch_to_uint16(np, stack, low, high, target_min, target_max)


@mem.cupy
def stack_percentile_normalize_cupy(
    stack, *, low_percentile=1.0, high_percentile=99.0, target_min=0.0, target_max=65535.0
):
    """Percentile stretch to ``uint16`` on the GPU with CuPy (within 1 of numpy).

    Sorts the whole stack on the device for exact percentiles; see
    :func:`stack_percentile_normalize_numpy` for the parameters and output.

    Examples
    --------
    >>> stack_percentile_normalize_cupy.input_memory_type.value
    'cupy'
    """
    _checked(stack, low_percentile, high_percentile, target_min, target_max)
    import cupy as cp

    low, high = _percentiles(cp.sort(stack.reshape(-1)), low_percentile, high_percentile)
    return _stretch_to_uint16(cp, stack, low, high, target_min, target_max)


@mem.torch
def stack_percentile_normalize_torch(
    stack, *, low_percentile=1.0, high_percentile=99.0, target_min=0.0, target_max=65535.0
):
    """Percentile stretch to ``uint16`` with PyTorch (within 1 of numpy).

    ``torch.quantile`` refuses large inputs, so the stack is sorted instead (integers widened
    to ``int64``, which every device sorts); see :func:`stack_percentile_normalize_numpy`.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.arange(101, dtype=np.uint16).reshape(1, 1, 101)
    >>> out = stack_percentile_normalize_torch(
    ...     stack, low_percentile=10, high_percentile=90, target_min=0, target_max=800)
    >>> out.dtype, out[0, 0, [0, 10, 50, 90, 100]].tolist()
    (torch.uint16, [0, 0, 400, 800, 800])
    """
    _checked(stack, low_percentile, high_percentile, target_min, target_max)
    import torch

    flat = stack.reshape(-1)
    if not flat.is_floating_point():
        flat = flat.to(torch.int64)
    low, high = _percentiles(torch.sort(flat).values, low_percentile, high_percentile)
    offset, scale = stretch_constants(low, high, target_min, target_max)
    stretched = (stack.to(torch.float32) - offset) * scale + target_min
    # float32 -> uint16 is not a supported cast on every device; int32 holds 0..65535 exactly.
    rounded = torch.round(torch.clamp(stretched, target_min, target_max)).to(torch.int32)
    return rounded.to(torch.uint16)


@mem.jax
def stack_percentile_normalize_jax(
    stack, *, low_percentile=1.0, high_percentile=99.0, target_min=0.0, target_max=65535.0
):
    """Percentile stretch to ``uint16`` with JAX (within 1 of numpy).

    Sorts the whole stack for exact percentiles; see :func:`stack_percentile_normalize_numpy`.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.arange(101, dtype=np.uint16).reshape(1, 1, 101)
    >>> out = stack_percentile_normalize_jax(
    ...     stack, low_percentile=10, high_percentile=90, target_min=0, target_max=800)
    >>> out.dtype.name, out[0, 0, np.array([0, 10, 50, 90, 100])].tolist()
    ('uint16', [0, 0, 400, 800, 800])
    """
    _checked(stack, low_percentile, high_percentile, target_min, target_max)
    import jax.numpy as jnp

    low, high = _percentiles(jnp.sort(stack.reshape(-1)), low_percentile, high_percentile)
    return _stretch_to_uint16(jnp, stack, low, high, target_min, target_max)
