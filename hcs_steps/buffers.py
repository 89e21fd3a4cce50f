"""Host buffers aligned for zero-copy hand-over to jax and tensorflow.

jax shares host memory only when the data pointer is 64-byte aligned, and a
tensorflow op on an unaligned buffer aborts the process. numpy, zarr and tifffile
give no such guarantee, so every array hcs-steps allocates on the host comes from
here. This module is a leaf: ``memory`` and ``plate`` both use it.
"""

from __future__ import annotations

import numpy as np

ALIGNMENT = 64


def is_aligned(array: np.ndarray, alignment: int = ALIGNMENT) -> bool:
    """Return True when ``array``'s data pointer is a multiple of ``alignment`` bytes.

    Examples
    --------
    >>> is_aligned(aligned_empty((4, 4), np.float32))
    True
    """
    return array.ctypes.data % alignment == 0


def aligned_empty(shape, dtype, alignment: int = ALIGNMENT) -> np.ndarray:
    """Allocate an uninitialised C-contiguous array whose data is ``alignment``-aligned.

    Over-allocates by ``alignment`` bytes and slices at the first aligned offset.

    Examples
    --------
    >>> a = aligned_empty((2, 3, 5), np.uint16)
    >>> a.shape, a.dtype, a.flags.c_contiguous
    ((2, 3, 5), dtype('uint16'), True)
    """
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(n) for n in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


def aligned_copy(array, alignment: int = ALIGNMENT) -> np.ndarray:
    """Return a C-contiguous, aligned copy of ``array`` (any array-like numpy accepts).

    Examples
    --------
    >>> b = aligned_copy(np.arange(6).reshape(2, 3)[:, ::-1])
    >>> b.tolist(), is_aligned(b)
    ([[2, 1, 0], [5, 4, 3]], True)
    """
    source = np.asarray(array)
    out = aligned_empty(source.shape, source.dtype, alignment)
    np.copyto(out, source)
    return out


def as_aligned(array, alignment: int = ALIGNMENT) -> np.ndarray:
    """Return ``array`` itself when already C-contiguous and aligned, else an aligned copy."""
    source = np.asarray(array)
    if source.flags.c_contiguous and is_aligned(source, alignment):
        return source
    return aligned_copy(source, alignment)
