"""Per-object measurement tables: the ``counts`` and ``objects`` special outputs.

Their columns are fixed by the architecture: ``counts`` has ``plane``, ``count`` (one row per
plane, zeros included); ``objects`` has ``plane``, ``label``, ``y``, ``x`` (centroid, in
pixels), ``area`` (pixels) and ``mean_intensity`` (of the stack the step received). Sums run
in the label stack's own library (on its device); only the per-object sums reach the host.
"""

from __future__ import annotations

OBJECT_COLUMNS = ["plane", "label", "y", "x", "area", "mean_intensity"]


def counts_table(numbers_per_plane):
    """The ``counts`` special output: one row per plane (``plane``, ``count``).

    Examples
    --------
    >>> counts_table([3, 0])
       plane  count
    0      0      3
    1      1      0
    """
    import numpy as np
    import pandas as pd

    numbers = np.asarray(numbers_per_plane, dtype=np.int64)
    return pd.DataFrame({"plane": np.arange(numbers.size, dtype=np.int64), "count": numbers})


def objects_table(plane, label, area, sum_y, sum_x, sum_intensity):
    """The ``objects`` special output from per-object sums (numpy arrays, one per object).

    Examples
    --------
    >>> objects_table([0], [1], [4], [2.0], [6.0], [40.0])
       plane  label    y    x  area  mean_intensity
    0      0      1  0.5  1.5     4            10.0
    """
    import numpy as np
    import pandas as pd

    area = np.asarray(area, dtype=np.int64)
    return pd.DataFrame(
        {
            "plane": np.asarray(plane, dtype=np.int64),
            "label": np.asarray(label, dtype=np.int64),
            "y": np.asarray(sum_y, dtype=np.float64) / np.maximum(area, 1),
            "x": np.asarray(sum_x, dtype=np.float64) / np.maximum(area, 1),
            "area": area,
            "mean_intensity": np.asarray(sum_intensity, dtype=np.float64) / np.maximum(area, 1),
        },
        columns=OBJECT_COLUMNS,
    )


def measure_numpy(labels, intensity):
    """``(counts, objects)`` tables of a numpy label stack over its intensity stack.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((1, 3, 3), np.uint32)
    >>> labels[0, :2, :2] = 1
    >>> counts, objects = measure_numpy(labels, np.full((1, 3, 3), 5, np.uint16))
    >>> counts["count"].tolist(), objects[["y", "x", "area", "mean_intensity"]].values.tolist()
    ([1], [[0.5, 0.5, 4.0, 5.0]])
    """
    import numpy as np
    import pandas as pd

    numbers, pieces = [], []
    for index, (plane_labels, plane) in enumerate(zip(labels, intensity, strict=True)):
        area, *sums = _plane_sums_numpy(plane_labels, plane)
        numbers.append(area.size)
        label = np.arange(1, area.size + 1, dtype=np.int64)
        pieces.append(objects_table(np.full(area.size, index), label, area, *sums))
    return counts_table(numbers), pd.concat(pieces, ignore_index=True)


# Rows per band: about 2^18 pixels, so a plane's sums take band-sized scratch, not a
# plane's float64 row, column and intensity weights and int64 labels (142 MiB above the
# labels for a 2160 x 2160 plane, 2 MiB in bands).
BAND_PIXELS = 1 << 18


def _plane_sums_numpy(plane_labels, plane):
    """Area, row, column and intensity sums of each object 1..max of one plane.

    Summed band by band: a sum of integers in float64 is exact (below 2^53) in any order,
    so the bands give the one-pass sums bit for bit. Float intensities are summed in one
    pass, in pixel order, as rounding depends on the order.
    """
    import numpy as np

    size = int(plane_labels.max(initial=0)) + 1
    height, width = plane_labels.shape
    band = max(1, BAND_PIXELS // width)
    exact = plane.dtype.kind in "biu"
    area = np.zeros(size, np.int64)
    sums = np.zeros((3, size), np.float64)
    for top in range(0, height, band):
        flat = plane_labels[top : top + band].ravel().astype(np.int64)
        rows = flat.size // width
        area += np.bincount(flat, minlength=size)
        row_index = np.repeat(np.arange(top, top + rows, dtype=np.float64), width)
        sums[0] += np.bincount(flat, weights=row_index, minlength=size)
        column_index = np.tile(np.arange(width, dtype=np.float64), rows)
        sums[1] += np.bincount(flat, weights=column_index, minlength=size)
        if exact:
            values = plane[top : top + band].ravel().astype(np.float64)
            sums[2] += np.bincount(flat, weights=values, minlength=size)
    if not exact:
        flat = plane_labels.ravel().astype(np.int64)
        sums[2] = np.bincount(flat, weights=plane.ravel().astype(np.float64), minlength=size)
    return area[1:], sums[0, 1:], sums[1, 1:], sums[2, 1:]


def measure_torch(labels, intensity):
    """``(counts, objects)`` tables of a torch label stack; sums on the device, tables on CPU.

    Examples
    --------
    >>> import torch
    >>> labels = torch.zeros((1, 3, 3), dtype=torch.int32)
    >>> labels[0, :2, :2] = 1
    >>> counts, objects = measure_torch(labels, torch.full((1, 3, 3), 5.0))
    >>> counts["count"].tolist(), objects[["y", "x", "area", "mean_intensity"]].values.tolist()
    ([1], [[0.5, 0.5, 4.0, 5.0]])
    """
    import numpy as np
    import torch

    z, height, width = labels.shape
    per_plane = labels.reshape(z, -1).amax(dim=1).to(torch.int64)
    offsets = torch.cumsum(per_plane, 0) - per_plane
    flat = labels.reshape(z, -1).to(torch.int64)
    global_id = torch.where(flat > 0, flat + offsets[:, None], 0).reshape(-1)
    size = int(per_plane.sum()) + 1
    rows = torch.arange(height, device=labels.device, dtype=torch.float64)
    rows = rows[:, None].expand(height, width).reshape(-1).repeat(z)
    cols = torch.arange(width, device=labels.device, dtype=torch.float64).repeat(z * height)
    weights = (rows, cols, intensity.reshape(-1).to(torch.float64))
    sums = [torch.bincount(global_id, w, minlength=size)[1:].cpu().numpy() for w in weights]
    area = torch.bincount(global_id, minlength=size)[1:].cpu().numpy()
    numbers = per_plane.cpu().numpy()
    plane = np.repeat(np.arange(z), numbers)
    label = np.concatenate([np.arange(1, n + 1) for n in numbers]) if z else np.zeros(0)
    return counts_table(numbers), objects_table(plane, label, area, *sums)
