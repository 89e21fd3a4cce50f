"""Blob detection for ``count_cells_single_channel``: scale-space responses, peaks, pruning.

The numpy implementation calls scikit-image's ``blob_log`` / ``blob_dog``. The torch one
computes the same scale-space cube on the device (scipy's Gaussian and
Gaussian-Laplace kernels, truncated at 4 sigma, with scipy's ``"reflect"`` border), finds
its local maxima over 3 x 3 x 3 neighbourhoods above ``threshold`` there, and hands the few
peaks to :func:`prune_blobs` on the host, which applies scikit-image's rule: of two blobs
overlapping by more than ``overlap`` (intersection over the smaller disk), the smaller goes.
Both then paint each blob as a disk with :func:`paint_blobs`.
"""

from __future__ import annotations

import math


def blob_sigmas(detection_method: str, min_sigma: float, max_sigma: float, num_sigma: int):
    """The scales scikit-image searches (``float32``), and the DoG ratio (None for LoG).

    Examples
    --------
    >>> blob_sigmas("blob_log", 2, 4, 3)[0].tolist()
    [2.0, 3.0, 4.0]
    >>> sigmas, ratio = blob_sigmas("blob_dog", 2, 4, 3)
    >>> [round(s, 3) for s in sigmas.tolist()], ratio
    ([2.0, 3.2, 5.12], 1.6)
    """
    import numpy as np

    f32 = np.float32
    if detection_method == "blob_log":
        return np.linspace(f32(min_sigma), f32(max_sigma), num_sigma, dtype=f32), None
    ratio = 1.6
    steps = int(np.log(f32(max_sigma) / f32(min_sigma)) / np.log(ratio) + 1)
    return np.array([f32(min_sigma) * ratio**i for i in range(steps + 1)], dtype=f32), ratio


def _disk_overlap(distance: float, r1: float, r2: float) -> float:
    """Area shared by two disks, over the area of the smaller one."""
    if distance >= r1 + r2:
        return 0.0
    if distance <= abs(r1 - r2):
        return 1.0
    # Each disk contributes a circular segment, cut by the chord through both crossings.
    angle1 = math.acos(max(-1.0, min(1.0, (distance**2 + r1**2 - r2**2) / (2 * distance * r1))))
    angle2 = math.acos(max(-1.0, min(1.0, (distance**2 + r2**2 - r1**2) / (2 * distance * r2))))
    kite = 0.5 * math.sqrt(
        abs(
            (-distance + r1 + r2)
            * (distance + r1 - r2)
            * (distance - r1 + r2)
            * (distance + r1 + r2)
        )
    )
    shared = r1**2 * angle1 + r2**2 * angle2 - kite
    return shared / (math.pi * min(r1, r2) ** 2)


def prune_blobs(blobs, overlap: float):
    """Drop the smaller of every pair of blobs that overlap by more than ``overlap``.

    ``blobs`` rows are ``(y, x, sigma)`` (radius ``sigma * sqrt(2)``) in decreasing response;
    pairs are visited as scikit-image visits them, so the survivors match its own.

    Examples
    --------
    >>> import numpy as np
    >>> blobs = np.array([[10.0, 10.0, 4.0], [11.0, 10.0, 3.0], [40.0, 40.0, 3.0]])
    >>> prune_blobs(blobs, 0.5).tolist()
    [[10.0, 10.0, 4.0], [40.0, 40.0, 3.0]]
    """
    import numpy as np
    from scipy.spatial import cKDTree

    blobs = np.array(blobs, dtype=np.float64)
    if len(blobs) < 2:
        return blobs
    reach = 2 * blobs[:, 2].max() * math.sqrt(2)
    for i, j in cKDTree(blobs[:, :2]).query_pairs(reach):
        first, second = blobs[i], blobs[j]
        if first[2] == 0 or second[2] == 0:
            continue
        larger = max(first[2], second[2])
        # scikit-image measures in units of the larger blob's radius
        distance = math.dist(first[:2], second[:2]) / (larger * math.sqrt(2))
        if _disk_overlap(distance, first[2] / larger, second[2] / larger) > overlap:
            (second if first[2] > second[2] else first)[2] = 0
    return blobs[blobs[:, 2] > 0]


def paint_blobs(shape, blobs):
    """A ``uint32`` label plane with blob ``n`` painted as its disk, later over earlier.

    Examples
    --------
    >>> paint_blobs((5, 5), [[2.0, 2.0, 1.0]])
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]], dtype=uint32)
    """
    import numpy as np
    from skimage.draw import disk

    labels = np.zeros(shape, np.uint32)
    # float64 whatever the detector returned, so that equal blobs paint equal disks
    for number, (y, x, sigma) in enumerate(np.asarray(blobs, np.float64), start=1):
        rows, cols = disk((y, x), sigma * math.sqrt(2), shape=shape)
        labels[rows, cols] = number
    return labels


def _kernels(sigma: float, order: int):
    import numpy as np

    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    if order == 2:  # second derivative of the sampled Gaussian, as scipy builds it
        kernel = kernel * (x**2 / sigma**4 - 1 / sigma**2)
    return kernel


def _separable_torch(planes, kernel_y, kernel_x):
    """Correlate ``[N, H, W]`` planes with two 1D kernels, borders mirrored like scipy's
    ``"reflect"`` (edge pixel repeated)."""
    import torch
    import torch.nn.functional as functional

    def mirror(size, radius):
        index = torch.arange(-radius, size + radius, device=planes.device) % (2 * size)
        return torch.where(index < size, index, 2 * size - 1 - index)

    ry, rx = len(kernel_y) // 2, len(kernel_x) // 2
    height, width = planes.shape[-2:]
    padded = planes[:, mirror(height, ry)][:, :, mirror(width, rx)][:, None]
    column = torch.as_tensor(kernel_y, dtype=planes.dtype, device=planes.device)
    row = torch.as_tensor(kernel_x, dtype=planes.dtype, device=planes.device)
    along_y = functional.conv2d(padded, column.reshape(1, 1, -1, 1))
    return functional.conv2d(along_y, row.reshape(1, 1, 1, -1))[:, 0]


def scale_space_torch(planes, detection_method, sigmas, ratio):
    """``[N, S, H, W]`` blob responses of ``[N, H, W]`` float32 planes in ``[0, 1]``."""
    import torch

    if detection_method == "blob_log":
        layers = []
        for sigma in sigmas.tolist():
            smooth, second = _kernels(sigma, 0), _kernels(sigma, 2)
            laplace = _separable_torch(planes, second, smooth)
            laplace = laplace + _separable_torch(planes, smooth, second)
            layers.append(-laplace * sigma**2)
        return torch.stack(layers, dim=1)
    blurred = [_separable_torch(planes, _kernels(s, 0), _kernels(s, 0)) for s in sigmas.tolist()]
    scale = 1 / (ratio - 1)
    layers = [(blurred[i] - blurred[i + 1]) * scale for i in range(len(blurred) - 1)]
    return torch.stack(layers, dim=1)


def detect_blobs_torch(
    stack, detection_method, min_sigma, max_sigma, num_sigma, threshold, overlap
):
    """Per plane, the pruned ``(y, x, sigma)`` blobs of a torch ``[Z, Y, X]`` stack.

    Each plane is rescaled to ``[0, 1]`` (a flat plane has no blobs), as the numpy
    implementation does before calling scikit-image.
    """
    import numpy as np
    import torch
    import torch.nn.functional as functional

    planes = stack.to(torch.float32)
    low = planes.amin(dim=(1, 2), keepdim=True)
    span = planes.amax(dim=(1, 2), keepdim=True) - low
    planes = (planes - low) / torch.where(span > 0, span, 1)
    sigmas, ratio = blob_sigmas(detection_method, min_sigma, max_sigma, num_sigma)
    cube = scale_space_torch(planes, detection_method, sigmas, ratio)
    neighbourhood_max = functional.max_pool3d(cube[:, None], 3, stride=1, padding=1)[:, 0]
    peaks = (cube == neighbourhood_max) & (cube > threshold) & (span > 0)[:, None]
    plane, scale, y, x = (index.cpu().numpy() for index in torch.nonzero(peaks, as_tuple=True))
    response = cube[peaks].cpu().numpy()
    result = []
    for index in range(stack.shape[0]):
        mine = np.flatnonzero(plane == index)
        mine = mine[np.argsort(-response[mine], kind="stable")]
        blobs = np.column_stack([y[mine], x[mine], sigmas[scale[mine]]]).astype(np.float64)
        result.append(prune_blobs(blobs, overlap))
    return result
