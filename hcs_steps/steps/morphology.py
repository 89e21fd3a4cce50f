"""``tophat``: per-plane white top-hat background subtraction with a flat disk footprint.

The same four stages in every library, each exact on integer data:

1. shrink each plane by ``downsample_factor`` taking the minimum of every block (the last
   partial blocks repeat the edge pixels);
2. open the small plane (erosion, then dilation) with a flat disk of radius
   ``selem_radius / downsample_factor`` (rounded half up, at least 1), whose pixels are those
   with ``dy**2 + dx**2 <= radius**2`` (``skimage.morphology.disk``); outside the image,
   pixels are ignored;
3. grow the opened plane back by repeating each pixel ``downsample_factor`` times;
4. subtract it from the plane.

The background is a lower envelope of the plane (an opening of block minima), so the result
is never negative and is returned in the input dtype; a clip at 0 would never act.
Every implementation equals the numpy one exactly on integer data up to 16 bits and float32.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hcs_steps import memory as mem
from hcs_steps.steps.params import check_number

STEP = "tophat"
# Pixels the top-hat works on at a time (planes of a stack, rows of a plane): the size of its
# scratch, and big enough that small stacks go in one piece, as fast as unsplit.
SCRATCH_PIXELS = 2**18


def batch_size(pixels_per_item: int) -> int:
    """How many items (planes, rows) of ``pixels_per_item`` fit :data:`SCRATCH_PIXELS`.

    Examples
    --------
    >>> batch_size(256 * 256), batch_size(4096 * 4096)
    (4, 1)
    """
    return max(1, SCRATCH_PIXELS // pixels_per_item)


def check_tophat_parameters(params: Mapping[str, object]) -> None:
    """``selem_radius`` and ``downsample_factor`` are integers >= 1.

    Examples
    --------
    >>> check_tophat_parameters({"selem_radius": 50, "downsample_factor": 0})
    Traceback (most recent call last):
    ...
    ValueError: step 'tophat': parameter 'downsample_factor' must be an integer >= 1, got 0
    """
    check_number(STEP, "selem_radius", params["selem_radius"], minimum=1, integer=True)
    check_number(STEP, "downsample_factor", params["downsample_factor"], minimum=1, integer=True)


def small_radius(selem_radius: int, downsample_factor: int) -> int:
    """The disk radius used on the downsampled plane.

    Examples
    --------
    >>> small_radius(50, 4), small_radius(3, 8)
    (13, 1)
    """
    return max(1, math.floor(selem_radius / downsample_factor + 0.5))


def disk_half_widths(radius: int) -> list[tuple[int, int]]:
    """``(dy, half_width)`` rows of the disk: row ``dy`` spans ``-half_width..half_width``.

    Examples
    --------
    >>> disk_half_widths(2)
    [(-2, 0), (-1, 1), (0, 2), (1, 1), (2, 0)]
    """
    return [(dy, math.isqrt(radius * radius - dy * dy)) for dy in range(-radius, radius + 1)]


def _checked(stack, selem_radius, downsample_factor) -> int:
    check_tophat_parameters({"selem_radius": selem_radius, "downsample_factor": downsample_factor})
    return small_radius(selem_radius, downsample_factor)


def _tophat_scipy_like(xp, ndimage, stack, radius: int, f: int):
    """The four stages with a numpy-like namespace ``xp`` and its scipy-like ``ndimage``,
    a few planes at a time into the output: the footprint has no reach along Z, so planes
    apart give the same values, and the scratch (padding, the grown background) is that of
    :data:`SCRATCH_PIXELS`, not of the stack."""
    depth, height, width = stack.shape
    footprint = xp.zeros((1, 2 * radius + 1, 2 * radius + 1), dtype=bool)
    for dy, half in disk_half_widths(radius):
        footprint[0, dy + radius, radius - half : radius + half + 1] = True
    out = xp.empty_like(stack)
    step = batch_size(height * width)
    for top in range(0, depth, step):
        planes = stack[top : top + step]
        padded = xp.pad(planes, ((0, 0), (0, -height % f), (0, -width % f)), mode="edge")
        blocks = (planes.shape[0], padded.shape[1] // f, f, padded.shape[2] // f, f)
        small = padded.reshape(blocks).min(axis=(2, 4))
        del padded
        opened = ndimage.grey_opening(small, footprint=footprint, mode="nearest")
        background = opened.repeat(f, axis=1).repeat(f, axis=2)[:, :height, :width]
        xp.subtract(planes, background, out=out[top : top + step])
    return out


@mem.numpy
def tophat_numpy(stack, *, selem_radius=50, downsample_factor=4):
    """Subtract each plane's background: its opening by a disk, computed downsampled.

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]`` stack of integers (up to 16 bits) or ``float32``.
    selem_radius : int
        Disk radius in full-resolution pixels; choose it larger than the objects to keep.
    downsample_factor : int
        Planes are opened at ``1 / downsample_factor`` of their size (1: full size).

    Returns
    -------
    numpy.ndarray
        Same shape and dtype, never negative. The other libraries equal it exactly.

    Examples
    --------
    >>> import numpy as np
    >>> plane = np.full((12, 12), 10, dtype=np.uint16)
    >>> plane[5:7, 5:7] = 50                      # a small bright spot on a flat background
    >>> out = tophat_numpy(plane[None], selem_radius=4, downsample_factor=2)
    >>> int(out.max()), int(out[0, 0, 0]), out.dtype
    (40, 0, dtype('uint16'))
    """
    radius = _checked(stack, selem_radius, downsample_factor)
    import numpy as np
    from scipy import ndimage

    return _tophat_scipy_like(np, ndimage, stack, radius, downsample_factor)


@mem.cupy
def tophat_cupy(stack, *, selem_radius=50, downsample_factor=4):
    """Top-hat background subtraction on the GPU with CuPy (equal to numpy).

    The same code as :func:`tophat_numpy`, with ``cupy`` and ``cupyx.scipy.ndimage``.

    Examples
    --------
    >>> tophat_cupy.input_memory_type.value
    'cupy'
    """
    radius = _checked(stack, selem_radius, downsample_factor)
    import cupy as cp
    from cupyx.scipy import ndimage

    return _tophat_scipy_like(cp, ndimage, stack, radius, downsample_factor)


def _torch_disk_filter(planes, radius: int, reduce: str):
    """Erode (``"min"``) or dilate (``"max"``) ``[N, 1, H, W]`` planes with a disk.

    A disk is a stack of centred rows, so the filter is, per row offset ``dy``, a 1D running
    extreme along X (a max-pool) shifted by ``dy``; edges repeat, which for a disk equals
    ignoring the pixels outside. Computed in bands of output rows (:func:`batch_size`), each
    from its rows and ``radius`` more on either side, holding one running extreme at a time
    (rows of equal half width share it): the scratch is a band's, not the planes' times the
    disk's rows. The maximum is exact, so the order of the rows changes nothing.
    """
    import torch
    import torch.nn.functional as functional

    sign = -1 if reduce == "min" else 1
    count, _, height, width = planes.shape
    padded = functional.pad(sign * planes, (radius, radius, radius, radius), mode="replicate")
    rows_of_half = {}
    for dy, half in disk_half_widths(radius):
        rows_of_half.setdefault(half, []).append(dy)
    out = torch.empty_like(planes)
    band_rows = batch_size(count * padded.shape[-1])
    for top in range(0, height, band_rows):
        rows = min(band_rows, height - top)
        band = padded[..., top : top + rows + 2 * radius, :]
        result = None
        for half, offsets in rows_of_half.items():
            columns = band[..., radius - half : radius + half + width]
            running = functional.max_pool2d(columns, (1, 2 * half + 1), stride=1)
            for dy in offsets:
                shifted = running[..., radius + dy : radius + dy + rows, :]
                if result is None:
                    result = shifted.clone()
                else:
                    torch.maximum(result, shifted, out=result)
        out[..., top : top + rows, :] = result
    return out.mul_(sign)


def _torch_block_minima(planes, f: int, dtype):
    """Stage 1 on ``[N, H, W]`` planes, in bands of rows: their ``[N, 1, H/f, W/f]`` minima
    of ``f x f`` blocks in ``dtype``, the last partial blocks repeating the edge pixels."""
    import torch
    import torch.nn.functional as functional

    count, height, width = planes.shape
    small_height = -(-height // f)
    small = torch.empty((count, 1, small_height, -(-width // f)), dtype=dtype, device=planes.device)
    band_rows = batch_size(count * f * width)
    for top in range(0, small_height, band_rows):
        band = planes[:, top * f : (top + band_rows) * f].to(dtype)[:, None]
        # Only the last band can be short of whole blocks: its padding is the planes'.
        band = functional.pad(band, (0, -width % f, 0, -band.shape[-2] % f), mode="replicate")
        small[..., top : top + band_rows, :] = -functional.max_pool2d(-band, f, stride=f)
    return small


def _torch_subtract_background(planes, opened, f: int, dtype, out) -> None:
    """Stages 3 and 4 in bands of rows: ``out = planes - opened`` grown ``f`` times."""
    import torch

    count, height, width = planes.shape
    band_rows = batch_size(count * f * width)
    for top in range(0, opened.shape[-2], band_rows):
        grown = opened[:, 0, top : top + band_rows].repeat_interleave(f, dim=1)
        grown = grown.repeat_interleave(f, dim=2)
        rows = slice(top * f, min((top + band_rows) * f, height))
        result = planes[:, rows].to(dtype) - grown[:, : rows.stop - rows.start, :width]
        if out.dtype == torch.uint16:  # no float -> uint16 cast on every device
            result = result.to(torch.int32)
        out[:, rows] = result


@mem.torch
def tophat_torch(stack, *, selem_radius=50, downsample_factor=4):
    """Top-hat background subtraction with PyTorch (equal to numpy).

    The disk erosion and dilation are max-pools over its rows (see
    :func:`tophat_numpy` for the stages and parameters). Computes in ``float32`` (``float64``
    for 32-bit integers, so values stay exact) and returns the input dtype. Runs a few
    planes at a time and each stage in bands of rows (:data:`SCRATCH_PIXELS`).

    Examples
    --------
    >>> import numpy as np
    >>> plane = np.full((12, 12), 10, dtype=np.uint16)
    >>> plane[5:7, 5:7] = 50
    >>> out = tophat_torch(plane[None], selem_radius=4, downsample_factor=2)
    >>> int(out[0, 5, 5]), int(out[0, 0, 0]), out.dtype
    (40, 0, torch.uint16)
    """
    radius = _checked(stack, selem_radius, downsample_factor)
    import torch

    wide = stack.dtype in (torch.int32, torch.uint32, torch.int64, torch.float64)
    dtype = torch.float64 if wide else torch.float32
    depth, height, width = stack.shape
    out = torch.empty_like(stack)
    step = batch_size(height * width)
    for top in range(0, depth, step):
        planes = stack[top : top + step]
        small = _torch_block_minima(planes, downsample_factor, dtype)
        eroded = _torch_disk_filter(small, radius, "min")
        del small
        opened = _torch_disk_filter(eroded, radius, "max")
        del eroded
        _torch_subtract_background(planes, opened, downsample_factor, dtype, out[top : top + step])
    return out


@mem.pyclesperanto
def tophat_pyclesperanto(stack, *, selem_radius=50, downsample_factor=4):
    """Top-hat background subtraction with pyclesperanto (equal to numpy).

    Block minima from strided views, the opening with spherical ``minimum_filter`` /
    ``maximum_filter`` (flat in Z), the upsampling with nearest-neighbour ``scale``.
    See :func:`tophat_numpy` for the stages and parameters.

    Examples
    --------
    >>> import numpy as np
    >>> plane = np.full((12, 12), 10, dtype=np.uint16)
    >>> plane[5:7, 5:7] = 50
    >>> out = tophat_pyclesperanto(plane[None], selem_radius=4, downsample_factor=2)
    >>> int(out.get()[0, 5, 5]), int(out.get()[0, 0, 0]), out.dtype.name
    (40, 0, 'uint16')
    """
    radius = _checked(stack, selem_radius, downsample_factor)
    import pyclesperanto as cle

    f = downsample_factor
    _, height, width = stack.shape
    padded = stack
    for _ in range(-height % f):
        padded = cle.concatenate_along_y(padded, padded[:, -1:, :])
    for _ in range(-width % f):
        padded = cle.concatenate_along_x(padded, padded[:, :, -1:])
    small = None
    for dy in range(f):
        for dx in range(f):
            view = padded[:, dy::f, dx::f]
            small = view if small is None else cle.minimum_images(small, view)
    eroded = cle.minimum_filter(
        small, radius_x=radius, radius_y=radius, radius_z=0, connectivity="sphere"
    )
    opened = cle.maximum_filter(
        eroded, radius_x=radius, radius_y=radius, radius_z=0, connectivity="sphere"
    )
    grown = cle.scale(opened, factor_x=f, factor_y=f, factor_z=1, centered=False, resize=True)
    return cle.subtract_images(stack, grown[:, :height, :width])
