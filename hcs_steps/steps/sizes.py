"""One size parameter for segmentation and counting: the expected object diameter in pixels.

``segment_nuclei`` and ``count_cells_single_channel`` take ``diameter`` (the parameter
CellProfiler, Cellpose and StarDist users know) and derive every length from it, as
fractions of the diameter ``d``:

=================  ==========================  =============================================
parameter          derived value               why
=================  ==========================  =============================================
``smoothing_sigma``  ``d / 10``                  removes noise and texture, keeps the outline
``seed_sigma``     ``d / 5``                   one intensity maximum per object (the "spot"
                                               sigma of Voronoi-Otsu labelling)
``min_distance``   ``round(0.3 * d)``, >= 1    two seeds closer than this are one object
``min_area``       ``round(0.1 * pi d**2 / 4)``  a tenth of a typical object's area
``min_sigma``      ``d / (2 sqrt 2) / 1.5``    blob scales bracketing the blob sigma of a
``max_sigma``      ``d / (2 sqrt 2) * 1.5``    disk of diameter d (radius = sigma sqrt 2)
=================  ==========================  =============================================

A parameter given explicitly overrides its derived value. With no ``diameter``, it is
estimated from the stack by :func:`estimate_diameter_numpy` (or its torch twin): the
median area of the bright objects that an Otsu threshold finds, as a disk's diameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hcs_steps.steps.params import check_number

SIZE_PARAMETERS = (
    "smoothing_sigma",
    "seed_sigma",
    "min_distance",
    "min_area",
    "min_sigma",
    "max_sigma",
)
# The estimate's own segmentation: light smoothing, and specks under 9 pixels are noise.
ESTIMATE_SIGMA = 1.0
ESTIMATE_MIN_AREA = 9
# What an image with no object at all (a flat or empty stack) is given: any value serves.
FALLBACK_DIAMETER = 20.0


def derived_parameters(diameter: float) -> dict[str, float | int]:
    """The lengths that follow from an expected object ``diameter`` (pixels).

    Examples
    --------
    >>> derived_parameters(40.0)  # doctest: +NORMALIZE_WHITESPACE
    {'smoothing_sigma': 4.0, 'seed_sigma': 8.0, 'min_distance': 12, 'min_area': 126,
     'min_sigma': 9.428, 'max_sigma': 21.213}
    """
    blob_sigma = diameter / (2 * math.sqrt(2))
    return {
        "smoothing_sigma": round(diameter / 10, 3),
        "seed_sigma": round(diameter / 5, 3),
        "min_distance": max(1, round(0.3 * diameter)),
        "min_area": round(0.1 * math.pi * diameter**2 / 4),
        "min_sigma": round(blob_sigma / 1.5, 3),
        "max_sigma": round(blob_sigma * 1.5, 3),
    }


def check_size_parameters(step: str, params: Mapping[str, object]) -> None:
    """``diameter`` and each size parameter: ``None`` (derived) or a number in range.

    Examples
    --------
    >>> check_size_parameters("segment_nuclei", {"diameter": 0})
    Traceback (most recent call last):
    ...
    ValueError: step 'segment_nuclei': parameter 'diameter' must be a number > 0, got 0
    """
    if params.get("diameter") is not None:
        check_number(step, "diameter", params["diameter"], minimum=0, strict_minimum=True)
    limits = {
        "smoothing_sigma": dict(minimum=0),
        "seed_sigma": dict(minimum=0),
        "min_distance": dict(minimum=1, integer=True),
        "min_area": dict(minimum=0, integer=True),
        "min_sigma": dict(minimum=0, strict_minimum=True),
        "max_sigma": dict(minimum=0, strict_minimum=True),
    }
    for name, limit in limits.items():
        if params.get(name) is not None:
            check_number(step, name, params[name], **limit)


def resolve_sizes(params: Mapping[str, object], estimate) -> dict[str, object]:
    """``params`` with every ``None`` size parameter replaced by its derived value.

    ``estimate()`` is called, once, only when ``diameter`` is ``None`` and a derived
    value is needed; the returned ``"diameter"`` is the one used.

    Examples
    --------
    >>> resolve_sizes({"diameter": None, "min_area": None}, lambda: 10.0)
    {'diameter': 10.0, 'min_area': 8}
    >>> resolve_sizes({"diameter": 30, "min_distance": None}, lambda: 1 / 0)
    {'diameter': 30, 'min_distance': 9}
    """
    resolved = dict(params)
    needed = [name for name in SIZE_PARAMETERS if name in params and params[name] is None]
    if not needed:
        return resolved
    if resolved.get("diameter") is None:
        resolved["diameter"] = float(estimate())
    derived = derived_parameters(resolved["diameter"])
    resolved.update({name: derived[name] for name in needed})
    return resolved


def _diameter_of_median_area(areas) -> float:
    import numpy as np

    areas = np.asarray(areas)
    areas = areas[areas >= ESTIMATE_MIN_AREA]
    if areas.size == 0:
        return FALLBACK_DIAMETER
    return round(2 * math.sqrt(float(np.median(areas)) / math.pi), 2)


def _second_sigma(first_estimate: float) -> float:
    return max(ESTIMATE_SIGMA, derived_parameters(first_estimate)["smoothing_sigma"])


def estimate_diameter_numpy(stack) -> float:
    """Estimate the typical object diameter (pixels) of a ``[Z, Y, X]`` numpy stack.

    Method: each plane is smoothed with a 1-pixel Gaussian and thresholded with Otsu's
    method; the 8-connected bright components of 9 pixels or more, over all planes, are
    pooled; a first estimate is the diameter of a disk with their median area. The median
    holds as long as most components are single objects: a few merged clumps or specks
    do not move it. Textured nuclei break into pieces at so light a smoothing, so the
    estimate is made again with the smoothing the first one implies (``d / 10``, as the
    segmentation smooths). A stack with no component gets 20.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import disk
    >>> stack = np.zeros((1, 120, 120), np.uint16)
    >>> for centre in [(30, 30), (30, 90), (90, 30), (90, 90)]:
    ...     stack[(0, *disk(centre, 12))] = 500
    >>> estimate_diameter_numpy(stack)
    23.59
    """
    import numpy as np

    from hcs_steps.steps.segmentation import segment_numpy

    def diameter(sigma):
        labels = segment_numpy(stack, "threshold", sigma, 0.0, 1, 0)
        areas = [np.bincount(plane.ravel())[1:] for plane in labels]
        return _diameter_of_median_area(np.concatenate(areas) if areas else [])

    return diameter(_second_sigma(diameter(ESTIMATE_SIGMA)))


def estimate_diameter_torch(stack) -> float:
    """:func:`estimate_diameter_numpy` with the torch segmentation (on the stack's device).

    Examples
    --------
    >>> import torch
    >>> stack = torch.zeros((2, 64, 64))
    >>> stack[0, 10:30, 10:30] = 1.0
    >>> stack[1, 20:50, 30:50] = 1.0
    >>> estimate_diameter_torch(stack) == estimate_diameter_numpy(stack.numpy())
    True
    """
    import torch

    from hcs_steps.steps.segmentation import segment_torch

    def diameter(sigma):
        labels = segment_torch(stack, "threshold", sigma, 0.0, 1, 0)
        z = labels.shape[0]
        per_plane = labels.reshape(z, -1).amax(dim=1).to(torch.int64)
        offsets = torch.cumsum(per_plane, 0) - per_plane
        flat = labels.reshape(z, -1).to(torch.int64)
        global_id = torch.where(flat > 0, flat + offsets[:, None], 0).reshape(-1)
        areas = torch.bincount(global_id, minlength=int(per_plane.sum()) + 1)[1:]
        return _diameter_of_median_area(areas.cpu().numpy())

    return diameter(_second_sigma(diameter(ESTIMATE_SIGMA)))
