"""``segment_nuclei``: Otsu threshold + watershed -> a label stack with per-object tables.

Every length follows from one parameter, the expected nucleus ``diameter`` in pixels
(estimated from the stack when not given; :mod:`hcs_steps.steps.sizes`). Per plane, in both
implementations:

1. smooth with a Gaussian of ``smoothing_sigma`` (0: no smoothing), in ``float32``;
2. foreground = smoothed > Otsu's threshold (256 bins over the plane's range); a flat plane
   has no foreground;
3. ``method="threshold"``: objects are the 8-connected foreground components;
   ``method="watershed"``: seeds are the local maxima, over a ``(2 * min_distance + 1)``
   square inside the foreground (touching maxima merge), of the plane smoothed with the
   wider ``seed_sigma`` (about one maximum per nucleus whatever its texture), grown over
   the foreground so that touching nuclei separate; a foreground component that holds no
   seed (its maximum lies near a brighter object) becomes one object;
4. objects smaller than ``min_area`` pixels are dropped; labels are numbered 1, 2, ... per
   plane in raster order of each object's first pixel.

numpy uses scikit-image's ``threshold_otsu``, ``label`` and (intensity-ordered)
``watershed``. The torch implementation grows the seeds by geodesic dilation (all seeds
advance one pixel per step), so only the borders between touching nuclei may differ; its
counts per plane are within 5% (at least 1) of numpy's, and with ``method="threshold"``
its labels equal numpy's exactly except where float32 smoothing noise moves a pixel across
the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping

from hcs_steps import memory as mem
from hcs_steps.steps.filters import smooth_planes_torch
from hcs_steps.steps.measure import measure_numpy, measure_torch
from hcs_steps.steps.params import check_choice
from hcs_steps.steps.sizes import (
    check_size_parameters,
    estimate_diameter_numpy,
    estimate_diameter_torch,
    resolve_sizes,
)

STEP = "segment_nuclei"
METHODS = ("threshold", "watershed")
PARAMETERS = ("smoothing_sigma", "seed_sigma", "min_distance", "min_area")


def check_segmentation_parameters(params: Mapping[str, object], step: str = STEP) -> None:
    """Check ``method``, ``diameter`` and the size parameters (``None``: derived).

    Examples
    --------
    >>> check_segmentation_parameters(
    ...     {"method": "otsu", "diameter": None, "smoothing_sigma": 2, "min_distance": 7,
    ...      "min_area": 50}
    ... )  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: step 'segment_nuclei': parameter 'method' must be one of ...
    """
    check_choice(step, "method", params["method"], METHODS)
    check_size_parameters(step, params)


def ordered_labels_numpy(groups, min_area):
    """Renumber a plane's object ids 1..n in raster order of first pixel, dropping small ones.

    Row band by row band (:data:`~hcs_steps.steps.measure.BAND_PIXELS`): a whole plane's
    ``np.unique`` sorts int64 copies of it (80 MiB for a 2160 x 2160 plane).
    """
    import numpy as np

    from hcs_steps.steps.measure import BAND_PIXELS

    row = groups[0].size  # pixels of one step along the first axis
    band = max(1, BAND_PIXELS // row)
    starts = range(0, groups.shape[0], band)
    found = [
        np.unique(groups[top : top + band].ravel(), return_index=True, return_counts=True)
        for top in starts
    ]
    ids, inverse = np.unique(np.concatenate([f[0] for f in found]), return_inverse=True)
    # The first band that has an id holds its first pixel: bands are in raster order.
    first = np.full(ids.size, np.iinfo(np.int64).max, np.int64)
    offsets = [top * row for top in starts]
    np.minimum.at(
        first, inverse, np.concatenate([f[1] + o for f, o in zip(found, offsets, strict=True)])
    )
    area = np.zeros(ids.size, np.int64)
    np.add.at(area, inverse, np.concatenate([f[2] for f in found]))
    keep = (ids != 0) & (area >= min_area)
    lookup = np.zeros(int(ids.max()) + 1, dtype=np.uint32)
    ordered = np.argsort(first[keep], kind="stable")
    lookup[ids[keep][ordered]] = np.arange(1, keep.sum() + 1, dtype=np.uint32)
    ordered_labels = np.empty(groups.shape, np.uint32)
    for top in starts:
        ordered_labels[top : top + band] = lookup[groups[top : top + band]]
    return ordered_labels


def _watershed_by_component(basins, markers, foreground):
    """scikit-image's watershed of ``basins`` from ``markers`` within ``foreground``
    (connectivity 2), one connected component of the foreground at a time.

    Flooding never crosses the mask, and the queue orders a component's pixels alone as it
    does among all (by value, then by when they were queued), so the labels are those of
    one call on the whole plane. The call's scratch (float64, padded and marker-typed
    copies: 93 MiB for a 2160 x 2160 plane) is then that of a component's bounding box.
    """
    import numpy as np
    from scipy import ndimage
    from skimage.segmentation import watershed

    structure = ndimage.generate_binary_structure(foreground.ndim, foreground.ndim)
    components, _ = ndimage.label(foreground, structure=structure, output=np.int32)
    groups = np.zeros(foreground.shape, markers.dtype)
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        inside = components[box] == index
        seeds = np.where(inside, markers[box], 0)
        if seeds.any():
            flooded = watershed(basins[box], seeds, mask=inside, connectivity=2)
            groups[box][inside] = flooded[inside]
    return groups


def segment_plane_numpy(plane, method, smoothing_sigma, seed_sigma, min_distance, min_area):
    import numpy as np
    from scipy import ndimage
    from skimage.filters import threshold_otsu
    from skimage.measure import label

    smoothed = plane.astype(np.float32)
    if smoothing_sigma > 0:
        smoothed = ndimage.gaussian_filter(smoothed, smoothing_sigma, mode="nearest")
    if smoothed.min() == smoothed.max():
        return np.zeros(plane.shape, np.uint32)
    foreground = smoothed > threshold_otsu(smoothed, nbins=256)
    del smoothed  # not held through the watershed, whose scratch is the plane's peak
    if method == "threshold":
        groups = label(foreground, connectivity=2)
    else:
        seeded = plane.astype(np.float32)
        if seed_sigma > 0:
            seeded = ndimage.gaussian_filter(seeded, seed_sigma, mode="nearest")
        size = 2 * min_distance + 1
        peaks = (seeded == ndimage.maximum_filter(seeded, size, mode="nearest")) & foreground
        # int32 markers: the watershed keeps three marker-typed copies of the plane
        # (masked, padded, cropped), half the size of label's int64.
        markers = label(peaks, connectivity=2).astype(np.int32)
        del peaks
        # Flooded from the maxima: negated in place rather than into a copy.
        basins = np.negative(seeded, out=seeded)
        groups = _watershed_by_component(basins, markers, foreground)
        del markers, basins, seeded
        orphans = label(foreground & (groups == 0), connectivity=2)
        groups = np.where(orphans > 0, orphans + groups.max(), groups)
    return ordered_labels_numpy(groups, min_area)


def segment_numpy(stack, method, smoothing_sigma, seed_sigma, min_distance, min_area):
    """The computation of :func:`segment_nuclei_numpy` (``uint32`` labels), for reuse."""
    import numpy as np

    return np.stack(
        [
            segment_plane_numpy(plane, method, smoothing_sigma, seed_sigma, min_distance, min_area)
            for plane in stack
        ]
    )


def resolved_parameters(stack, params: Mapping[str, object], estimate) -> dict:
    """Check ``params``; fill in the derived sizes; the arguments of ``segment_<library>``."""
    check_segmentation_parameters(params)
    resolved = resolve_sizes(params, lambda: estimate(stack))
    return {name: resolved[name] for name in ("method", *PARAMETERS)}


@mem.numpy
def segment_nuclei_numpy(
    stack,
    *,
    method="watershed",
    diameter=None,
    smoothing_sigma=None,
    seed_sigma=None,
    min_distance=None,
    min_area=None,
):
    """Label the nuclei of each plane (scikit-image reference).

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]`` stack of bright nuclei on a dark background, any real dtype.
    method : {"watershed", "threshold"}
        ``"threshold"``: connected foreground components; ``"watershed"``: split touching
        nuclei from the smoothed intensity's local maxima.
    diameter : float, optional
        Expected nucleus diameter in pixels; the parameters below follow from it
        (:func:`hcs_steps.steps.sizes.derived_parameters`). By default it is estimated
        from the stack (:func:`hcs_steps.steps.sizes.estimate_diameter_numpy`).
    smoothing_sigma : float, optional
        Gaussian sigma applied before thresholding, in pixels (0: none); ``diameter / 10``.
    seed_sigma : float, optional
        Gaussian sigma of the image whose maxima are the seeds (watershed only);
        ``diameter / 5``.
    min_distance : int, optional
        Half-width of the square in which a seed must be the maximum (watershed only);
        ``0.3 * diameter``.
    min_area : int, optional
        Objects with fewer pixels are dropped; a tenth of the area of a disk of
        ``diameter``.

    Returns
    -------
    labels : numpy.ndarray
        ``uint32`` ``[Z, Y, X]``; 0 is background, objects are numbered per plane.
    special_outputs : dict
        ``"counts"`` (``plane``, ``count``) and ``"objects"`` (``plane``, ``label``, ``y``,
        ``x``, ``area``, ``mean_intensity`` of the input stack) DataFrames, and
        ``"labels"``, the labels again: the workflow keeps them as the step's objects
        (for ``measure_objects``, ``grow_cells``, and the result plate's OME-NGFF labels).

    Notes
    -----
    With the defaults (no diameter given), on three ground-truth sets from three sources
    the object-level F1 at IoU 0.5 is 0.70-0.72 (``benchmarks/counting_accuracy.py``).

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.zeros((1, 40, 40), np.uint16)
    >>> stack[0, 5:15, 5:15] = 1000
    >>> stack[0, 25:35, 20:32] = 800
    >>> labels, tables = segment_nuclei_numpy(stack, smoothing_sigma=1, min_area=20)
    >>> labels.dtype, int(labels.max()), tables["counts"]["count"].tolist()
    (dtype('uint32'), 2, [2])
    >>> tables["objects"][["label", "area"]].values.tolist()
    [[1, 100], [2, 116]]
    """
    params = {name: value for name, value in locals().items() if name != "stack"}
    labels = segment_numpy(stack, **resolved_parameters(stack, params, estimate_diameter_numpy))
    counts, objects = measure_numpy(labels, stack)
    return labels, {"counts": counts, "objects": objects, "labels": labels}


def _ordered_labels_torch(groups, min_area):
    """Torch twin of :func:`ordered_labels_numpy` for a whole ``[Z, Y, X]`` stack at once.

    ``groups`` holds an id per object that is unique across the stack (0: background).
    """
    import torch

    z, height, width = groups.shape
    flat = groups.reshape(-1)
    foreground = flat > 0
    ids, inverse = torch.unique(flat[foreground], return_inverse=True)
    position = torch.arange(flat.numel(), device=flat.device)[foreground]
    first = torch.full((ids.numel(),), flat.numel(), device=flat.device, dtype=torch.int64)
    first = first.scatter_reduce(0, inverse, position, reduce="amin")
    area = torch.bincount(inverse, minlength=ids.numel())
    keep = area >= min_area
    order = torch.argsort(torch.where(keep, first, flat.numel()))  # kept ones first, in order
    kept = int(keep.sum())
    plane_of = first[order[:kept]] // (height * width)
    per_plane = torch.bincount(plane_of, minlength=z)
    offsets = torch.cumsum(per_plane, 0) - per_plane
    new_id = torch.zeros(ids.numel(), dtype=torch.int32, device=flat.device)
    rank = torch.arange(kept, device=flat.device)
    new_id[order[:kept]] = (rank - offsets[plane_of] + 1).to(torch.int32)
    labels = torch.zeros(flat.numel(), dtype=torch.int32, device=flat.device)
    labels[foreground] = new_id[inverse]
    return labels.reshape(z, height, width)


def _spread_torch(ids, allowed, fill_background_only):
    """Propagate the largest id over 8-neighbours inside ``allowed`` until nothing changes.

    Ids are raster positions + 1 within each plane. Without ``fill_background_only``
    (connected components), each step also jumps: a pixel takes the id now held at the
    position its id names, which lies in the same component; that cuts the steps from the
    component's length to about its logarithm. With it (seeded growth), ids only spread
    into unlabelled pixels, one pixel per step: the geodesic dilation the watershed needs.
    """
    import torch
    import torch.nn.functional as functional

    while True:
        grown = functional.max_pool2d(ids[:, None], 3, stride=1, padding=1)[:, 0]
        if fill_background_only:
            grown = torch.where(ids > 0, ids, grown)
        grown = torch.where(allowed, grown, 0)
        if not fill_background_only:
            planes = grown.reshape(grown.shape[0], -1)
            pointer = (planes.to(torch.int64) - 1).clamp(min=0)
            grown = torch.where(planes > 0, planes.gather(1, pointer), 0).reshape(grown.shape)
        if torch.equal(grown, ids):
            return ids
        ids = grown


def otsu_thresholds_torch(smoothed):
    """Per-plane Otsu thresholds as scikit-image computes them for float images (256 bins).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skimage.filters import threshold_otsu
    >>> plane = np.random.default_rng(0).gamma(2.0, size=(1, 50, 50)).astype(np.float32)
    >>> ours = float(otsu_thresholds_torch(torch.from_numpy(plane))[0])
    >>> abs(ours - float(threshold_otsu(plane))) < 1e-5   # float32 bin centres in skimage
    True
    """
    import torch

    flat = smoothed.reshape(smoothed.shape[0], -1).to(torch.float64)
    low = flat.amin(dim=1, keepdim=True)
    high = flat.amax(dim=1, keepdim=True)
    span = torch.where(high > low, high - low, 1.0)
    bins = torch.clamp(((flat - low) * (256 / span)).to(torch.int64), 0, 255)
    hist = torch.zeros(flat.shape[0], 256, dtype=torch.float64, device=flat.device)
    hist.scatter_add_(1, bins, torch.ones_like(flat))
    centers = low + (torch.arange(256, device=flat.device) + 0.5) * (span / 256)
    weight1 = torch.cumsum(hist, 1)
    weight2 = torch.flip(torch.cumsum(torch.flip(hist, [1]), 1), [1])
    mean1 = torch.cumsum(hist * centers, 1) / weight1.clamp(min=1)
    mean2 = torch.flip(
        torch.cumsum(torch.flip(hist * centers, [1]), 1) / torch.flip(weight2, [1]).clamp(min=1),
        [1],
    )
    between = weight1[:, :-1] * weight2[:, 1:] * (mean1[:, :-1] - mean2[:, 1:]) ** 2
    return torch.gather(centers, 1, torch.argmax(between, 1, keepdim=True))[:, 0]


def segment_torch(stack, method, smoothing_sigma, seed_sigma, min_distance, min_area):
    """The computation of :func:`segment_nuclei_torch` (``int32`` labels), for reuse."""
    import torch
    import torch.nn.functional as functional

    smoothed = stack.to(torch.float32)
    if smoothing_sigma > 0:
        smoothed = smooth_planes_torch(smoothed, smoothing_sigma)
    thresholds = otsu_thresholds_torch(smoothed).to(torch.float32)
    flat_plane = smoothed.amin(dim=(1, 2)) == smoothed.amax(dim=(1, 2))
    foreground = (smoothed > thresholds[:, None, None]) & ~flat_plane[:, None, None]
    # Plane-local raster ids + 1, in the narrowest float that holds them exactly (max-pool
    # needs floats).
    z, height, width = stack.shape
    exact = torch.float32 if height * width < 2**24 else torch.float64
    raster = torch.arange(1, height * width + 1, device=stack.device, dtype=exact)
    raster = raster.reshape(1, height, width).expand(z, height, width)
    if method == "threshold":
        groups = _spread_torch(torch.where(foreground, raster, 0), foreground, False)
    else:
        seeded = stack.to(torch.float32)
        if seed_sigma > 0:
            seeded = smooth_planes_torch(seeded, seed_sigma)
        size = 2 * min_distance + 1
        local_max = functional.max_pool2d(seeded[:, None], size, 1, min_distance)[:, 0]
        peaks = (seeded == local_max) & foreground
        seeds = _spread_torch(torch.where(peaks, raster, 0), peaks, False)
        groups = _spread_torch(seeds, foreground, True)
        orphans = foreground & (groups == 0)
        groups = groups + _spread_torch(torch.where(orphans, raster, 0), orphans, False)
    plane_offset = torch.arange(z, device=stack.device)[:, None, None] * (height * width)
    groups = groups.to(torch.int64)
    return _ordered_labels_torch(torch.where(groups > 0, groups + plane_offset, 0), min_area)


@mem.torch
def segment_nuclei_torch(
    stack,
    *,
    method="watershed",
    diameter=None,
    smoothing_sigma=None,
    seed_sigma=None,
    min_distance=None,
    min_area=None,
):
    """Label the nuclei of each plane with PyTorch (GPU-capable; ``int32`` labels).

    Same parameters and outputs as :func:`segment_nuclei_numpy` (the diameter estimate is
    :func:`hcs_steps.steps.sizes.estimate_diameter_torch`); the watershed grows seeds by
    geodesic dilation, so borders between touching nuclei may differ. Counts per plane are
    within 5% (at least 1) of numpy's.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.zeros((1, 40, 40), np.uint16)
    >>> stack[0, 5:15, 5:15] = 1000
    >>> stack[0, 25:35, 20:32] = 800
    >>> labels, tables = segment_nuclei_torch(stack, smoothing_sigma=1, min_area=20)
    >>> labels.dtype, int(labels.max()), tables["objects"][["label", "area"]].values.tolist()
    (torch.int32, 2, [[1, 100], [2, 116]])
    """
    params = {name: value for name, value in locals().items() if name != "stack"}
    labels = segment_torch(stack, **resolved_parameters(stack, params, estimate_diameter_torch))
    counts, objects = measure_torch(labels, stack)
    return labels, {"counts": counts, "objects": objects, "labels": labels}
