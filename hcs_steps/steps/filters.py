"""Per-plane smoothing: ``gaussian(sigma)`` and ``median(radius)``.

Both act on each ``[Y, X]`` plane alone (nothing mixes along Z) and repeat the edge pixels
beyond the border (``mode="nearest"`` in scipy terms).

- ``gaussian`` returns ``float32``. The kernel is scipy's: a sampled Gaussian truncated at
  ``4 * sigma`` (radius ``int(4 * sigma + 0.5)``), normalised, applied along Y then X. Every
  library agrees with the numpy reference within ``1e-5`` times the largest input value.
- ``median`` keeps the input dtype and takes the median over a flat disk of ``radius``
  (``dy**2 + dx**2 <= radius**2``; an odd count, so no averaging). Every library equals the
  numpy reference exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

from hcs_steps import memory as mem
from hcs_steps.steps.morphology import disk_half_widths
from hcs_steps.steps.params import check_number


def check_gaussian_parameters(params: Mapping[str, object]) -> None:
    """``sigma`` is a number > 0.

    Examples
    --------
    >>> check_gaussian_parameters({"sigma": -1})
    Traceback (most recent call last):
    ...
    ValueError: step 'gaussian': parameter 'sigma' must be a number > 0, got -1
    """
    check_number("gaussian", "sigma", params["sigma"], minimum=0, strict_minimum=True)


def check_median_parameters(params: Mapping[str, object]) -> None:
    """``radius`` is an integer from 1 to 15 (the disk must stay under 1000 pixels).

    Examples
    --------
    >>> check_median_parameters({"radius": -2})
    Traceback (most recent call last):
    ...
    ValueError: step 'median': parameter 'radius' must be an integer >= 1 and <= 15, got -2
    """
    check_number("median", "radius", params["radius"], minimum=1, maximum=15, integer=True)


def gaussian_kernel(sigma: float):
    """The normalised 1D ``float32`` kernel scipy's ``gaussian_filter`` uses (truncate 4).

    Examples
    --------
    >>> kernel = gaussian_kernel(1.0)
    >>> kernel.size, round(float(kernel.sum()), 6)
    (9, 1.0)
    """
    import numpy as np

    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def disk_offsets(radius: int) -> list[tuple[int, int]]:
    """``(dy, dx)`` of every pixel of a flat disk, row by row.

    Examples
    --------
    >>> disk_offsets(1)
    [(-1, 0), (0, -1), (0, 0), (0, 1), (1, 0)]
    """
    return [(dy, dx) for dy, half in disk_half_widths(radius) for dx in range(-half, half + 1)]


def _disk_neighbours(padded, radius: int, height: int, width: int) -> list:
    """The plane shifted by every :func:`disk_offsets` offset, as slices of ``padded`` (the
    plane with ``radius`` pixels added on each side); any library that slices like numpy."""
    return [
        padded[radius + dy : radius + dy + height, radius + dx : radius + dx + width]
        for dy, dx in disk_offsets(radius)
    ]


def _clamped_indices(size: int, radius: int):
    import numpy as np

    return np.clip(np.arange(-radius, size + radius), 0, size - 1)


@mem.numpy
def gaussian_numpy(stack, *, sigma=1.0):
    """Gaussian smoothing of each plane (numpy/scipy reference).

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]`` stack, any real dtype.
    sigma : float
        Standard deviation in pixels, > 0, the same along Y and X.

    Returns
    -------
    numpy.ndarray
        ``float32``, same shape. Other libraries agree within ``1e-5 * max(stack)``.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.zeros((1, 11, 11), np.uint8)
    >>> stack[0, 5, 5] = 100                     # a point: the output is the kernel
    >>> out = gaussian_numpy(stack, sigma=1.0)
    >>> out.dtype, round(float(out.sum()), 3), round(float(out[0, 5, 5]), 2)
    (dtype('float32'), 100.0, 15.92)
    """
    check_gaussian_parameters({"sigma": sigma})
    import numpy as np
    from scipy import ndimage

    return ndimage.gaussian_filter(
        stack.astype(np.float32), sigma=(0, sigma, sigma), mode="nearest", truncate=4.0
    )


@mem.pyclesperanto
def gaussian_pyclesperanto(stack, *, sigma=1.0):
    """Gaussian smoothing of each plane with pyclesperanto (``float32``).

    Within ``1e-5 * max(stack)`` of :func:`gaussian_numpy`.

    Examples
    --------
    >>> import numpy as np
    >>> gaussian_pyclesperanto(np.ones((2, 4, 4), np.uint16), sigma=2).dtype.name
    'float32'
    """
    check_gaussian_parameters({"sigma": sigma})
    import pyclesperanto as cle

    return cle.gaussian_blur(stack, sigma_x=sigma, sigma_y=sigma, sigma_z=0)


@mem.torch
def gaussian_torch(stack, *, sigma=1.0):
    """Gaussian smoothing of each plane with PyTorch: two 1D convolutions (``float32``).

    Within ``1e-5 * max(stack)`` of :func:`gaussian_numpy`.

    Examples
    --------
    >>> import numpy as np
    >>> gaussian_torch(np.ones((2, 4, 4), np.uint16), sigma=2).dtype
    torch.float32
    """
    check_gaussian_parameters({"sigma": sigma})
    return smooth_planes_torch(stack, sigma)


def smooth_planes_torch(stack, sigma: float):
    """The computation of :func:`gaussian_torch`, for other torch steps to reuse."""
    import torch
    import torch.nn.functional as functional

    kernel = torch.from_numpy(gaussian_kernel(sigma)).to(stack.device)
    radius = kernel.numel() // 2
    planes = stack.to(torch.float32)[:, None]
    padded = functional.pad(planes, (radius, radius, radius, radius), mode="replicate")
    along_y = functional.conv2d(padded, kernel.reshape(1, 1, -1, 1))
    return functional.conv2d(along_y, kernel.reshape(1, 1, 1, -1))[:, 0]


@mem.tensorflow
def gaussian_tensorflow(stack, *, sigma=1.0):
    """Gaussian smoothing of each plane with TensorFlow: two 1D convolutions (``float32``).

    Within ``1e-5 * max(stack)`` of :func:`gaussian_numpy`.

    Examples
    --------
    >>> import numpy as np
    >>> gaussian_tensorflow(np.ones((2, 4, 4), np.uint16), sigma=2).dtype.name
    'float32'
    """
    check_gaussian_parameters({"sigma": sigma})
    import tensorflow as tf

    kernel = gaussian_kernel(sigma)
    radius = kernel.size // 2
    _, height, width = stack.shape
    planes = tf.cast(stack, tf.float32)[..., None]
    planes = tf.gather(planes, _clamped_indices(height, radius), axis=1)
    planes = tf.gather(planes, _clamped_indices(width, radius), axis=2)
    along_y = tf.nn.conv2d(planes, kernel.reshape(-1, 1, 1, 1), strides=1, padding="VALID")
    return tf.nn.conv2d(along_y, kernel.reshape(1, -1, 1, 1), strides=1, padding="VALID")[..., 0]


@mem.jax
def gaussian_jax(stack, *, sigma=1.0):
    """Gaussian smoothing of each plane with JAX: two 1D convolutions (``float32``).

    Within ``1e-5 * max(stack)`` of :func:`gaussian_numpy`.

    Examples
    --------
    >>> import numpy as np
    >>> gaussian_jax(np.ones((2, 4, 4), np.uint16), sigma=2).dtype.name
    'float32'
    """
    check_gaussian_parameters({"sigma": sigma})
    import jax
    import jax.numpy as jnp

    kernel = jnp.asarray(gaussian_kernel(sigma))
    radius = kernel.size // 2
    planes = jnp.pad(stack.astype(jnp.float32), ((0, 0), (radius,) * 2, (radius,) * 2), "edge")
    planes = planes[:, None]
    along_y = jax.lax.conv(planes, kernel.reshape(1, 1, -1, 1), (1, 1), "VALID")
    return jax.lax.conv(along_y, kernel.reshape(1, 1, 1, -1), (1, 1), "VALID")[:, 0]


@mem.numpy
def median_numpy(stack, *, radius=1):
    """Median of each pixel's flat disk neighbourhood, plane by plane (numpy/scipy reference).

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]`` stack, any real dtype.
    radius : int
        Disk radius in pixels, 1 to 15.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype. Other libraries equal it exactly.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.full((1, 5, 5), 7, np.uint16)
    >>> stack[0, 2, 2] = 1000                    # a hot pixel
    >>> median_numpy(stack, radius=1)[0, 2, 2]
    np.uint16(7)
    """
    check_median_parameters({"radius": radius})
    from scipy import ndimage
    from skimage.morphology import disk

    return ndimage.median_filter(stack, footprint=disk(radius)[None], mode="nearest")


@mem.pyclesperanto
def median_pyclesperanto(stack, *, radius=1):
    """Disk median of each plane with pyclesperanto's spherical ``median`` (equal to numpy).

    Examples
    --------
    >>> import numpy as np
    >>> median_pyclesperanto(np.ones((2, 4, 4), np.uint16), radius=2).dtype.name
    'uint16'
    """
    check_median_parameters({"radius": radius})
    import pyclesperanto as cle

    return cle.median(stack, radius_x=radius, radius_y=radius, radius_z=0, connectivity="sphere")


@mem.torch
def median_torch(stack, *, radius=1):
    """Disk median of each plane with PyTorch (equal to numpy).

    Gathers the disk's shifted copies of one plane at a time and takes their middle value.

    Examples
    --------
    >>> import numpy as np
    >>> median_torch(np.ones((2, 4, 4), np.uint16), radius=2).dtype
    torch.uint16
    """
    check_median_parameters({"radius": radius})
    import torch
    import torch.nn.functional as functional

    wide = stack.dtype in (torch.int32, torch.uint32, torch.int64, torch.float64)
    height, width = stack.shape[1:]
    middle = len(disk_offsets(radius)) // 2
    planes = []
    for plane in stack.to(torch.float64 if wide else torch.float32):
        padded = functional.pad(plane[None, None], (radius,) * 4, mode="replicate")[0, 0]
        shifted = torch.stack(_disk_neighbours(padded, radius, height, width))
        planes.append(shifted.sort(dim=0).values[middle])
    result = torch.stack(planes)
    if stack.dtype == torch.uint16:  # no float -> uint16 cast on every device
        return result.to(torch.int32).to(torch.uint16)
    return result.to(stack.dtype)


@mem.tensorflow
def median_tensorflow(stack, *, radius=1):
    """Disk median of each plane with TensorFlow (equal to numpy).

    Examples
    --------
    >>> import numpy as np
    >>> median_tensorflow(np.ones((2, 4, 4), np.uint16), radius=2).dtype.name
    'uint16'
    """
    check_median_parameters({"radius": radius})
    import tensorflow as tf

    _, height, width = stack.shape
    middle = len(disk_offsets(radius)) // 2
    # tf.sort handles float and signed integers; float32 holds every 16-bit value exactly.
    wide = stack.dtype in (tf.int32, tf.uint32, tf.int64, tf.float64)
    work = tf.cast(stack, tf.float64 if wide else tf.float32)
    planes = []
    for index in range(stack.shape[0]):
        padded = tf.gather(work[index], _clamped_indices(height, radius), axis=0)
        padded = tf.gather(padded, _clamped_indices(width, radius), axis=1)
        shifted = tf.stack(_disk_neighbours(padded, radius, height, width))
        planes.append(tf.sort(shifted, axis=0)[middle])
    return tf.cast(tf.stack(planes), stack.dtype)


@mem.jax
def median_jax(stack, *, radius=1):
    """Disk median of each plane with JAX (equal to numpy).

    Examples
    --------
    >>> import numpy as np
    >>> median_jax(np.ones((2, 4, 4), np.uint16), radius=2).dtype.name
    'uint16'
    """
    check_median_parameters({"radius": radius})
    import jax.numpy as jnp

    _, height, width = stack.shape
    middle = len(disk_offsets(radius)) // 2
    planes = []
    for plane in stack:
        padded = jnp.pad(plane, radius, mode="edge")
        shifted = jnp.stack(_disk_neighbours(padded, radius, height, width))
        planes.append(jnp.sort(shifted, axis=0)[middle])
    return jnp.stack(planes)
