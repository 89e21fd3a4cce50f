"""``stack_percentile_normalize``: stretch a stack between two of its exact percentiles.

Every implementation finds the same two order statistics of the whole stack (by sorting,
partitioning or counting, never sampling, so the result is deterministic at any size) and
interpolates between them like ``numpy.percentile``'s default ``"linear"`` method, in
Python floats.
The stretch itself runs in ``float32`` in every library, then rounds to ``uint16``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from hcs_steps import memory as mem
from hcs_steps.steps.params import check_number, check_order

STEP = "stack_percentile_normalize"
UINT16_MAX = 65535
# Values a histogram of 16-bit integers counts at a time: 4 MiB of int32 scratch.
HISTOGRAM_CHUNK = 2**20


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


def _order_statistics_needed(size: int, percentiles) -> list[int]:
    """The 0-based ranks :func:`exact_percentile` reads for these percentiles of ``size``.

    Examples
    --------
    >>> _order_statistics_needed(101, (10, 90))
    [10, 11, 90, 91]
    """
    below = {math.floor(q / 100 * (size - 1)) for q in percentiles}
    return sorted({k for p in below for k in (p, min(p + 1, size - 1))})


def _percentiles(ordered, size: int, low_percentile, high_percentile):
    """Both percentiles from ``ordered[k]``, the ``k``-th smallest value (0-based)."""
    return (
        exact_percentile(lambda k: ordered[k], size, low_percentile),
        exact_percentile(lambda k: ordered[k], size, high_percentile),
    )


def _stretch_to_uint16(xp, stack, low, high, target_min, target_max):
    """The stretch in ``float32``, clipped and rounded, in a numpy-like namespace ``xp``."""
    offset, scale = stretch_constants(low, high, target_min, target_max)
    f32 = xp.float32
    stretched = (stack.astype(f32) - f32(offset)) * f32(scale) + f32(target_min)
    return xp.rint(xp.clip(stretched, f32(target_min), f32(target_max))).astype(xp.uint16)


def _numpy_stretch_planes(stack, low, high, target_min, target_max):
    """:func:`_stretch_to_uint16` with numpy, plane by plane into the output and in place:
    the same ``float32`` operations in the same order, on one plane of scratch."""
    import numpy as np

    offset, scale = stretch_constants(low, high, target_min, target_max)
    f32 = np.float32
    out = np.empty(stack.shape, dtype=np.uint16)
    for plane, out_plane in zip(stack, out, strict=True):
        stretched = plane.astype(f32)
        np.subtract(stretched, f32(offset), out=stretched)
        np.multiply(stretched, f32(scale), out=stretched)
        np.add(stretched, f32(target_min), out=stretched)
        np.clip(stretched, f32(target_min), f32(target_max), out=stretched)
        np.rint(stretched, out=stretched)
        out_plane[...] = stretched
    return out


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
    kth = _order_statistics_needed(flat.size, (low_percentile, high_percentile))
    partitioned = np.partition(flat, kth)
    low, high = _percentiles(partitioned, flat.size, low_percentile, high_percentile)
    del partitioned
    return _numpy_stretch_planes(stack, low, high, target_min, target_max)


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

    low, high = _percentiles(
        cp.sort(stack.reshape(-1)), stack.size, low_percentile, high_percentile
    )
    return _stretch_to_uint16(cp, stack, low, high, target_min, target_max)


def _torch_order_statistics(flat, ks: list[int]) -> dict[int, float]:
    """The ``k``-th smallest (0-based) of a flat tensor for each ``k``, exactly, unsorted.

    Integers of up to 16 bits are counted in a histogram over their dtype's whole range
    (read in chunks, so the scratch is a chunk and the counts); wider values are selected
    with ``torch.kthvalue``, which copies the tensor once instead of sorting it with its
    ``int64`` indices. Either gives the values a full sort would.
    """
    import torch

    if not flat.is_floating_point() and flat.element_size() <= 2 and flat.dtype != torch.bool:
        lowest = torch.iinfo(flat.dtype).min
        counts = torch.zeros(2 ** (8 * flat.element_size()), dtype=torch.int64, device=flat.device)
        for chunk in flat.split(HISTOGRAM_CHUNK):
            # bincount takes no 16-bit unsigned input; int32 holds every 16-bit value.
            values = chunk.to(torch.int32)
            if lowest:
                values -= lowest
            counts += torch.bincount(values, minlength=counts.numel())
        cumulative = counts.cumsum(0)
        wanted = torch.tensor(ks, dtype=torch.int64, device=flat.device)
        found = torch.searchsorted(cumulative, wanted, right=True) + lowest
        return {k: float(value) for k, value in zip(ks, found.tolist(), strict=True)}
    if flat.dtype in (torch.bool, torch.uint32, torch.uint64):  # kthvalue has no such kernels
        flat = flat.to(torch.int64)
    return {k: float(torch.kthvalue(flat, k + 1).values) for k in ks}


def _torch_stretch_planes(stack, low, high, target_min, target_max):
    """The ``float32`` stretch plane by plane into a ``uint16`` stack: the scratch is one
    plane, and in-place operations compute the same values as the expression they replace."""
    import torch

    offset, scale = stretch_constants(low, high, target_min, target_max)
    out = torch.empty(stack.shape, dtype=torch.uint16, device=stack.device)
    for plane, out_plane in zip(stack, out, strict=True):
        # copy: a float32 plane would otherwise be the input itself, stretched in place.
        stretched = plane.to(torch.float32, copy=True).sub_(offset).mul_(scale).add_(target_min)
        stretched.clamp_(target_min, target_max).round_()
        # float32 -> uint16 is not a supported cast on every device; int32 holds 0..65535.
        out_plane.copy_(stretched.to(torch.int32))
    return out


@mem.torch
def stack_percentile_normalize_torch(
    stack, *, low_percentile=1.0, high_percentile=99.0, target_min=0.0, target_max=65535.0
):
    """Percentile stretch to ``uint16`` with PyTorch (within 1 of numpy).

    ``torch.quantile`` refuses large inputs and a sort would hold the stack three times
    over in ``int64`` (values and indices), so the order statistics come from a histogram
    (integers up to 16 bits) or ``torch.kthvalue``, and the stretch runs plane by plane;
    see :func:`stack_percentile_normalize_numpy`.

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
    flat = stack.reshape(-1)
    ks = _order_statistics_needed(flat.numel(), (low_percentile, high_percentile))
    ordered = _torch_order_statistics(flat, ks)
    low, high = _percentiles(ordered, flat.numel(), low_percentile, high_percentile)
    return _torch_stretch_planes(stack, low, high, target_min, target_max)


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

    low, high = _percentiles(
        jnp.sort(stack.reshape(-1)), stack.size, low_percentile, high_percentile
    )
    return _stretch_to_uint16(jnp, stack, low, high, target_min, target_max)
