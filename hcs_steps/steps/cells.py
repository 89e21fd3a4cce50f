"""``grow_cells``: each nucleus grown into its cell on a cytoplasm or membrane stain.

CellProfiler's "identify secondary objects" by propagation, with scikit-image: per plane,

1. the stain is smoothed with a Gaussian of ``smoothing_sigma`` (0: none);
2. the cell area is where the smoothed stain is above ``threshold`` (by default Otsu's
   threshold of the plane), plus every nucleus; with ``threshold_classes=3``, the lower of
   the two three-class Otsu thresholds (CellProfiler's "three classes, middle to
   foreground"), for a stain whose cells are dim beside bright nuclei (a nuclear stain's
   cytoplasmic background, GFP leaking out of the nucleus): two classes would split the
   nuclei from everything else;
3. the nuclei are seeds of a watershed on the inverted smoothed stain over the cell
   area, so that neighbouring cells meet where the stain is dimmest; with
   ``max_distance``, no cell reaches further than that many pixels from its nucleus;
4. the cytoplasm of a cell is the cell minus its nucleus.

A cell keeps its nucleus' label: nucleus, cell and cytoplasm share one id per cell, in the
same plane. Special outputs: ``"labels"`` (the cells) and ``"cytoplasm"`` (their labels),
which the workflow names ``<step>`` and ``<step>_cytoplasm`` for later steps.
"""

from __future__ import annotations

from collections.abc import Mapping

from hcs_steps import memory as mem
from hcs_steps.steps.params import check_number

STEP = "grow_cells"


def check_grow_parameters(params: Mapping[str, object]) -> None:
    """``objects`` and ``stain`` are names; ``threshold``, ``max_distance`` >= 0 or None.

    Examples
    --------
    >>> check_grow_parameters({"objects": "nuclei", "stain": "actin", "threshold": None,
    ...                        "max_distance": -1, "smoothing_sigma": 1.0,
    ...                        "threshold_classes": 2})
    Traceback (most recent call last):
    ...
    ValueError: step 'grow_cells': parameter 'max_distance' must be a number >= 0, got -1
    """
    for name in ("objects", "stain"):
        if not isinstance(params[name], str) or not params[name]:
            raise ValueError(
                f"step {STEP!r}: parameter {name!r} must be a step or channel name, "
                f"got {params[name]!r}"
            )
    for name in ("threshold", "max_distance"):
        if params[name] is not None:
            check_number(STEP, name, params[name], minimum=0)
    check_number(STEP, "smoothing_sigma", params["smoothing_sigma"], minimum=0)
    if params["threshold_classes"] not in (2, 3) or isinstance(params["threshold_classes"], bool):
        raise ValueError(
            f"step {STEP!r}: parameter 'threshold_classes' must be 2 or 3 (Otsu classes), "
            f"got {params['threshold_classes']!r}"
        )


def _otsu_numpy(smoothed, classes: int) -> float:
    """The plane's Otsu threshold (``classes`` 2), or the lower of its three-class ones;
    infinite for a plane with fewer distinct values than classes (no cell area)."""
    import numpy as np
    from skimage.filters import threshold_multiotsu, threshold_otsu

    if len(np.unique(smoothed)) < classes:
        return np.inf
    if classes == 2:
        return threshold_otsu(smoothed, nbins=256)
    return threshold_multiotsu(smoothed, classes=3, nbins=256)[0]


def grow_plane_numpy(nuclei, stain, threshold, max_distance, smoothing_sigma, threshold_classes=2):
    """The cells of one plane: ``nuclei`` labels grown over the ``stain`` plane."""
    import numpy as np
    from scipy import ndimage
    from skimage.segmentation import expand_labels, watershed

    smoothed = stain.astype(np.float32)
    if smoothing_sigma > 0:
        smoothed = ndimage.gaussian_filter(smoothed, smoothing_sigma, mode="nearest")
    if threshold is None:
        threshold = _otsu_numpy(smoothed, threshold_classes)
    area = (smoothed > threshold) | (nuclei > 0)
    if max_distance is not None:
        area &= expand_labels(nuclei, max_distance) > 0
    return watershed(-smoothed, nuclei, mask=area, connectivity=2).astype(nuclei.dtype)


@mem.numpy
def grow_cells_numpy(
    labels,
    *,
    objects,
    stain,
    channels,
    threshold=None,
    threshold_classes=2,
    max_distance=None,
    smoothing_sigma=1.0,
):
    """Grow each nucleus of ``labels`` into its cell on channel ``stain`` (scikit-image).

    Parameters
    ----------
    labels : numpy.ndarray
        ``[Z, Y, X]`` nucleus labels (0: background), numbered per plane.
    objects : str
        The pipeline step whose labels these are (the workflow passes them).
    stain : str
        The channel of the cytoplasm or membrane stain.
    channels : dict of str to numpy.ndarray
        Channel name to ``[Z, Y, X]`` stack (a workflow input).
    threshold : float, optional
        Stain intensity above which a pixel can belong to a cell; Otsu's per plane by default.
    threshold_classes : int
        Classes of that Otsu threshold: 2 (cells above background) or 3 (background, dim
        cells, bright nuclei: the threshold under the dim class).
    max_distance : float, optional
        Farthest a cell reaches from its nucleus, in pixels; unlimited by default.
    smoothing_sigma : float
        Gaussian sigma of the stain before thresholding and flooding (0: none).

    Returns
    -------
    labels : numpy.ndarray
        The nuclei, unchanged.
    special_outputs : dict
        ``"labels"``: the cells; ``"cytoplasm"``: cells minus nuclei (same ids).

    Examples
    --------
    >>> import numpy as np
    >>> nuclei = np.zeros((1, 20, 40), np.uint16)
    >>> nuclei[0, 8:12, 8:12], nuclei[0, 8:12, 28:32] = 1, 2
    >>> stain = np.zeros((1, 20, 40))
    >>> stain[0, 2:18, 2:38] = 5.0
    >>> _, grown = grow_cells_numpy(nuclei, objects="nuclei", stain="actin",
    ...                             channels={"actin": stain}, smoothing_sigma=0)
    >>> cells, cytoplasm = grown["labels"], grown["cytoplasm"]
    >>> np.bincount(cells.ravel()).tolist(), int(cytoplasm[nuclei > 0].max())
    ([224, 288, 288], 0)
    >>> _, near = grow_cells_numpy(nuclei, objects="nuclei", stain="actin", max_distance=2,
    ...                            channels={"actin": stain}, smoothing_sigma=0)
    >>> np.bincount(near["labels"].ravel()).tolist()  # within 2 pixels (Euclidean) of 4 x 4
    [696, 52, 52]
    """
    import numpy as np

    params = {
        "objects": objects,
        "stain": stain,
        "threshold": threshold,
        "threshold_classes": threshold_classes,
        "max_distance": max_distance,
        "smoothing_sigma": smoothing_sigma,
    }
    check_grow_parameters(params)
    if stain not in channels:
        raise ValueError(
            f"step {STEP!r}: parameter 'stain' names channel {stain!r}, which this step "
            f"does not read; it reads {', '.join(channels) or 'no channel'}"
        )
    image = np.asarray(channels[stain])
    if image.shape != labels.shape:
        raise ValueError(
            f"step {STEP!r}: channel {stain!r} is {image.shape}, its objects {objects!r} "
            f"are {labels.shape}"
        )
    cells = np.stack(
        [
            grow_plane_numpy(
                nuclei, plane, threshold, max_distance, smoothing_sigma, threshold_classes
            )
            for nuclei, plane in zip(labels, image, strict=True)
        ]
    )
    cytoplasm = np.where(labels > 0, 0, cells).astype(cells.dtype)
    return labels, {"labels": cells, "cytoplasm": cytoplasm}
