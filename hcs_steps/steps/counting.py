"""``count_cells_single_channel``: count and measure cells in each plane of one channel.

The stack passes through unchanged; the results are special outputs (keys fixed by the
architecture): ``"counts"`` (``plane``, ``count``), ``"objects"`` (``plane``, ``label``,
``y``, ``x``, ``area``, ``mean_intensity``) and, with ``return_labels=True``, ``"labels"``
(the ``[Z, Y, X]`` label stack in the implementation's memory type).

Detection methods (plain strings):

- ``"threshold"`` and ``"watershed"``: the segmentation of
  :mod:`hcs_steps.steps.segmentation` (Otsu foreground, optionally split by watershed);
  objects are the segmented regions.
- ``"blob_log"`` and ``"blob_dog"``: scikit-image's Laplacian-of-Gaussian and
  difference-of-Gaussian blob detectors on each plane rescaled to ``[0, 1]``; an object is
  the disk of radius ``sigma * sqrt(2)`` around each blob (later blobs paint over earlier
  ones where they overlap).

In every method objects smaller than ``min_area`` pixels are dropped. Every length follows
from the expected cell ``diameter`` in pixels, estimated from the stack when not given
(:mod:`hcs_steps.steps.sizes`); a length given explicitly overrides its derived value.
"""

from __future__ import annotations

from collections.abc import Mapping

from hcs_steps import memory as mem
from hcs_steps.steps.blobs import detect_blobs_torch, paint_blobs
from hcs_steps.steps.measure import measure_numpy, measure_torch
from hcs_steps.steps.params import check_choice, check_number, check_order
from hcs_steps.steps.segmentation import METHODS as SEGMENTATION_METHODS
from hcs_steps.steps.segmentation import (
    PARAMETERS as SEGMENTATION_PARAMETERS,
)
from hcs_steps.steps.segmentation import (
    check_segmentation_parameters,
    ordered_labels_numpy,
    segment_numpy,
    segment_torch,
)
from hcs_steps.steps.sizes import estimate_diameter_numpy, estimate_diameter_torch, resolve_sizes

STEP = "count_cells_single_channel"
METHODS = ("blob_log", "blob_dog", *SEGMENTATION_METHODS)
BLOB_PARAMETERS = ("min_sigma", "max_sigma", "num_sigma", "threshold", "overlap")


def check_counting_parameters(params: Mapping[str, object]) -> None:
    """Check the method, the segmentation parameters and the blob parameters.

    Examples
    --------
    >>> params = {"detection_method": "blob_log", "diameter": None, "smoothing_sigma": 2.0,
    ...           "seed_sigma": None, "min_distance": 9, "min_area": 50, "min_sigma": 8.0,
    ...           "max_sigma": 4.0, "num_sigma": 5, "threshold": 0.1, "overlap": 0.5,
    ...           "return_labels": False}
    >>> check_counting_parameters(params)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: step 'count_cells_single_channel': parameter 'min_sigma' must be below ...
    """
    check_choice(STEP, "detection_method", params["detection_method"], METHODS)
    check_segmentation_parameters({**params, "method": "threshold"}, step=STEP)
    if params["min_sigma"] is not None and params["max_sigma"] is not None:
        check_order(STEP, "min_sigma", params["min_sigma"], "max_sigma", params["max_sigma"])
    check_number(STEP, "num_sigma", params["num_sigma"], minimum=1, integer=True)
    check_number(STEP, "threshold", params["threshold"], minimum=0)
    check_number(STEP, "overlap", params["overlap"], minimum=0, maximum=1)
    if not isinstance(params["return_labels"], bool):
        raise ValueError(
            f"step {STEP!r}: parameter 'return_labels' must be true or false, "
            f"got {params['return_labels']!r}"
        )


def _blob_labels_numpy(
    plane, detection_method, min_sigma, max_sigma, num_sigma, threshold, overlap
):
    import numpy as np
    from skimage.feature import blob_dog, blob_log

    low, high = float(plane.min()), float(plane.max())
    if low == high:
        return np.zeros(plane.shape, np.uint32)
    image = (plane.astype(np.float32) - np.float32(low)) / np.float32(high - low)
    if detection_method == "blob_log":
        blobs = blob_log(
            image,
            min_sigma=min_sigma,
            max_sigma=max_sigma,
            num_sigma=num_sigma,
            threshold=threshold,
            overlap=overlap,
        )
    else:
        blobs = blob_dog(
            image, min_sigma=min_sigma, max_sigma=max_sigma, threshold=threshold, overlap=overlap
        )
    return paint_blobs(plane.shape, blobs)


def _labels_numpy(stack, detection_method, segment, blob):
    import numpy as np

    if detection_method in SEGMENTATION_METHODS:
        return segment_numpy(stack, detection_method, **segment)
    return np.stack(
        [
            ordered_labels_numpy(
                _blob_labels_numpy(plane, detection_method, **blob), segment["min_area"]
            )
            for plane in stack
        ]
    )


def _labels_torch(stack, detection_method, segment, blob):
    import numpy as np
    import torch

    if detection_method in SEGMENTATION_METHODS:
        return segment_torch(stack, detection_method, **segment)
    # Only the scale space runs on the device; the few blobs are pruned and painted on the host.
    planes = [
        ordered_labels_numpy(paint_blobs(stack.shape[1:], blobs), segment["min_area"])
        for blobs in detect_blobs_torch(stack, detection_method, **blob)
    ]
    return torch.from_numpy(np.stack(planes).astype(np.int32)).to(stack.device)


def _count(stack, params, label_stack, measure, estimate):
    """Check, size, label with ``label_stack``, measure with ``measure``: every
    implementation."""
    check_counting_parameters(params)
    params = resolve_sizes(params, lambda: estimate(stack))
    if params["min_sigma"] >= params["max_sigma"]:
        check_order(STEP, "min_sigma", params["min_sigma"], "max_sigma", params["max_sigma"])
    segment = {name: params[name] for name in SEGMENTATION_PARAMETERS}
    blob = {name: params[name] for name in BLOB_PARAMETERS}
    labels = label_stack(stack, params["detection_method"], segment, blob)
    counts, objects = measure(labels, stack)
    special = {"counts": counts, "objects": objects}
    if params["return_labels"]:
        special["labels"] = labels
    return stack, special


@mem.numpy
def count_cells_single_channel_numpy(
    stack,
    *,
    detection_method="watershed",
    diameter=None,
    smoothing_sigma=None,
    seed_sigma=None,
    min_distance=None,
    min_area=None,
    min_sigma=None,
    max_sigma=None,
    num_sigma=5,
    threshold=0.1,
    overlap=0.5,
    return_labels=False,
):
    """Count and measure the cells of each plane (scikit-image reference).

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]`` stack of one channel, bright cells on a dark background.
    detection_method : {"watershed", "threshold", "blob_log", "blob_dog"}
        How cells are found (see the module docstring).
    diameter : float, optional
        Expected cell diameter in pixels, from which every length below that is not given
        follows (:func:`hcs_steps.steps.sizes.derived_parameters`); by default estimated
        from the stack (:func:`hcs_steps.steps.sizes.estimate_diameter_numpy`).
    smoothing_sigma, seed_sigma, min_distance : float, float, int, optional
        Segmentation smoothing, seed smoothing and seed spacing (``threshold``,
        ``watershed``), as in :func:`hcs_steps.steps.segmentation.segment_nuclei_numpy`.
    min_area : int, optional
        Objects with fewer pixels are dropped (every method).
    min_sigma, max_sigma : float, optional
        Blob scales searched, in pixels (a blob's radius is ``sigma * sqrt(2)``).
    num_sigma : int
        Number of scales, used by ``blob_log`` only.
    threshold : float
        Minimum blob response on the plane rescaled to ``[0, 1]`` (blob methods).
    overlap : float
        Of two blobs overlapping by more than this fraction, the smaller is dropped.
    return_labels : bool
        Also return the label stack as special output ``"labels"``.

    Returns
    -------
    stack : numpy.ndarray
        The input, unchanged.
    special_outputs : dict
        ``"counts"`` and ``"objects"`` DataFrames, and ``"labels"`` (``uint32``) on request.

    Notes
    -----
    The count error and object-level F1 of the defaults on three ground-truth sets from
    three sources are in ``benchmarks/counting_accuracy.py`` and the README.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.zeros((2, 64, 64), np.uint16)
    >>> stack[0, 10:26, 10:26] = 900
    >>> stack[0, 40:56, 30:46] = 700
    >>> out, found = count_cells_single_channel_numpy(stack, detection_method="threshold")
    >>> found["counts"]["count"].tolist(), list(found["objects"].columns)
    ([2, 0], ['plane', 'label', 'y', 'x', 'area', 'mean_intensity'])
    >>> _, found = count_cells_single_channel_numpy(stack, detection_method="blob_log",
    ...                                             min_sigma=4, max_sigma=12)
    >>> found["counts"]["count"].tolist()
    [2, 0]
    """
    # At the top of the body, locals() holds exactly the arguments: the parameters by name.
    params = {name: value for name, value in locals().items() if name != "stack"}
    return _count(stack, params, _labels_numpy, measure_numpy, estimate_diameter_numpy)


@mem.torch
def count_cells_single_channel_torch(
    stack,
    *,
    detection_method="watershed",
    diameter=None,
    smoothing_sigma=None,
    seed_sigma=None,
    min_distance=None,
    min_area=None,
    min_sigma=None,
    max_sigma=None,
    num_sigma=5,
    threshold=0.1,
    overlap=0.5,
    return_labels=False,
):
    """Count and measure the cells of each plane with PyTorch (GPU-capable).

    Same parameters and outputs as :func:`count_cells_single_channel_numpy` (labels are
    ``int32``). Counts per plane are within 5% (at least 1) of numpy's; for ``"threshold"``
    the labels are equal, and for the blob methods the blobs are equal, barring float32
    rounding at a threshold or between two equal peaks. The blob scale space and its peaks
    are computed on the device; pruning and painting the few blobs run on the host
    (:mod:`hcs_steps.steps.blobs`).

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.zeros((2, 64, 64), np.uint16)
    >>> stack[0, 10:26, 10:26] = 900
    >>> stack[0, 40:56, 30:46] = 700
    >>> out, found = count_cells_single_channel_torch(stack, return_labels=True)
    >>> found["counts"]["count"].tolist(), found["labels"].dtype
    ([2, 0], torch.int32)
    """
    params = {name: value for name, value in locals().items() if name != "stack"}
    return _count(stack, params, _labels_torch, measure_torch, estimate_diameter_torch)
