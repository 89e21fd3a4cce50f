"""Object-level accuracy of a label stack against ground truth: count error and F1 at IoU 0.5.

A found object *matches* a true object in the same plane when their intersection over union
is above 0.5. Above 0.5 no object can match two others, so the matching is unique without
an assignment step. Precision is matched / found, recall matched / true, F1 their harmonic
mean ``2 matched / (found + true)``.
"""

from __future__ import annotations

MATCH_IOU = 0.5


def plane_matches(truth, found, iou: float = MATCH_IOU) -> tuple[int, int, int]:
    """``(true objects, found objects, matched)`` of one 2D plane of labels.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((4, 8), np.uint16)
    >>> truth[:, :4], truth[:, 4:] = 1, 2
    >>> found = np.zeros((4, 8), np.uint16)
    >>> found[:, :3] = 7          # IoU 3/4 with object 1: a match
    >>> found[:, 6:] = 9          # IoU 2/4 with object 2: not above 0.5
    >>> plane_matches(truth, found)
    (2, 2, 1)
    """
    import numpy as np

    true_ids, true_flat = np.unique(truth, return_inverse=True)
    found_ids, found_flat = np.unique(found, return_inverse=True)
    true_flat, found_flat = true_flat.ravel(), found_flat.ravel()
    pairs = np.bincount(
        true_flat * found_ids.size + found_flat, minlength=true_ids.size * found_ids.size
    ).reshape(true_ids.size, found_ids.size)
    true_area, found_area = pairs.sum(axis=1), pairs.sum(axis=0)
    # Drop the background row and column (id 0, when present).
    rows = slice(1, None) if true_ids[0] == 0 else slice(None)
    cols = slice(1, None) if found_ids[0] == 0 else slice(None)
    overlap = pairs[rows, cols]
    union = true_area[rows, None] + found_area[None, cols] - overlap
    matched = int((overlap > iou * union).sum())
    return int(overlap.shape[0]), int(overlap.shape[1]), matched


def accuracy(truth, found, iou: float = MATCH_IOU) -> dict[str, float | int]:
    """Count error and F1 of a found ``[Z, Y, X]`` label stack, pooled over its planes.

    Returns ``true``, ``found``, ``matched``, ``count_error_percent`` (signed, of the
    true count), ``precision``, ``recall`` and ``f1``.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((1, 10, 10), np.uint8)
    >>> truth[0, 1:4, 1:4], truth[0, 6:9, 6:9] = 1, 2
    >>> accuracy(truth, truth)["f1"], accuracy(truth, truth[:, ::-1])["count_error_percent"]
    (1.0, 0.0)
    """
    totals = [0, 0, 0]
    for true_plane, found_plane in zip(truth, found, strict=True):
        for index, value in enumerate(plane_matches(true_plane, found_plane, iou)):
            totals[index] += value
    true, found_count, matched = totals
    return {
        "true": true,
        "found": found_count,
        "matched": matched,
        "count_error_percent": round(100 * (found_count - true) / max(true, 1), 1),
        "precision": round(matched / max(found_count, 1), 3),
        "recall": round(matched / max(true, 1), 3),
        "f1": round(2 * matched / max(found_count + true, 1), 3),
    }
