"""Synthetic plates of any size with known nuclei counts, for tests and benchmarks.

Each field holds ``n`` non-touching ellipsoidal blobs ("nuclei") on a noisy camera
background; every channel shows the same objects (later channels a little larger and
dimmer, like a cytoplasm stain). Counts are exact by construction and reproducible
from the seed: the same well of the same plate is identical whichever wells are drawn.
"""

from __future__ import annotations

import numpy as np

from hcs_steps.buffers import aligned_empty
from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.layout import canonical_well, row_index, sort_wells, well_from_indices
from hcs_steps.plate.writer import write_plate_metadata, write_well

BACKGROUND, NOISE = 100.0, 8.0


def _radius(y: int, x: int) -> float:
    return float(np.clip(min(y, x) / 24, 3, 12))


def _centres(rng, n: int, z: int, y: int, x: int, radius: float) -> np.ndarray:
    """``n`` (z, y, x) centres at least ``3.2 * radius`` apart in the plane (edges reach 1.5)."""
    margin, gap = radius * 1.2, radius * 3.2
    centres = []
    for _ in range(200 * max(n, 1)):
        if len(centres) == n:
            break
        candidate = (
            rng.uniform(0, z - 1) if z > 1 else 0.0,
            rng.uniform(margin, y - margin),
            rng.uniform(margin, x - margin),
        )
        if all(np.hypot(candidate[1] - c[1], candidate[2] - c[2]) >= gap for c in centres):
            centres.append(candidate)
    if len(centres) < n:
        raise PlateDataError(
            f"cannot place {n} separate objects of radius {radius:.0f} px in a "
            f"{y} x {x} field; use fewer objects or larger fields"
        )
    return np.array(centres).reshape(-1, 3)


def _draw(
    out: np.ndarray, centres: np.ndarray, radius: float, z_radius: float, amplitudes: np.ndarray
) -> None:
    """Add soft-edged ellipsoids to the float stack ``out`` (Z, Y, X)."""
    zz, yy, xx = (np.arange(n, dtype=np.float32) for n in out.shape)
    reach = int(np.ceil(radius * 1.5))
    for (cz, cy, cx), amplitude in zip(centres, amplitudes, strict=True):
        ys = slice(max(int(cy) - reach, 0), int(cy) + reach + 1)
        xs = slice(max(int(cx) - reach, 0), int(cx) + reach + 1)
        d = np.sqrt(
            ((zz[:, None, None] - cz) / z_radius) ** 2
            + ((yy[ys][None, :, None] - cy) / radius) ** 2
            + ((xx[xs][None, None, :] - cx) / radius) ** 2
        )
        out[:, ys, xs] += amplitude * np.clip(1.5 - d, 0.0, 1.0)


def synthetic_field(
    rng, *, channels: int, z: int, y: int, x: int, objects: int, dtype=np.uint16
) -> tuple[np.ndarray, dict]:
    """One field ``(channels, z, y, x)`` and its known counts (``objects``, ``plane_counts``)."""
    radius = _radius(y, x)
    z_radius = max(radius / 3, 1.0) if z > 1 else 1.0
    centres = _centres(rng, objects, z, y, x, radius)
    amplitudes = rng.uniform(800, 2400, len(centres))
    stack = np.empty((channels, z, y, x), np.float32)
    for c in range(channels):
        stack[c] = BACKGROUND + rng.normal(0, NOISE, (z, y, x))
        _draw(stack[c], centres, radius * (1 + 0.3 * c), z_radius, amplitudes / (1 + c))
    limit = np.iinfo(dtype).max if np.dtype(dtype).kind in "ui" else np.inf
    field = np.clip(stack, 0, limit).astype(dtype)
    plane_counts = [
        int(np.sum(np.abs(np.arange(z)[p] - centres[:, 0]) < z_radius)) for p in range(z)
    ]
    return field, {"channel": "c0", "objects": int(len(centres)), "plane_counts": plane_counts}


def synthetic_well(
    well: str,
    *,
    fields: int = 1,
    channels: int = 1,
    z: int = 5,
    y: int = 128,
    x: int = 128,
    objects_per_field=(5, 15),
    seed: int = 0,
    dtype=np.uint16,
):
    """``(data, counts)`` of one well: aligned ``(F, C, Z, Y, X)`` data, counts per field.

    Examples
    --------
    >>> data, counts = synthetic_well("B03", fields=2, z=3, y=64, x=64, objects_per_field=4)
    >>> data.shape, [c["objects"] for c in counts]
    ((2, 1, 3, 64, 64), [4, 4])
    """
    well = canonical_well(well)
    low, high = (objects_per_field,) * 2 if np.isscalar(objects_per_field) else objects_per_field
    rng = np.random.default_rng([seed, row_index(well[:-2]), int(well[-2:])])
    data = aligned_empty((fields, channels, z, y, x), dtype)
    counts = []
    for f in range(fields):
        data[f], known = synthetic_field(
            rng,
            channels=channels,
            z=z,
            y=y,
            x=x,
            objects=int(rng.integers(low, high + 1)),
            dtype=dtype,
        )
        counts.append(known)
    return data, counts


def synthetic_plate(
    path,
    *,
    rows: int = 2,
    columns: int = 3,
    fields: int = 1,
    channels: int = 1,
    z: int = 5,
    y: int = 128,
    x: int = 128,
    objects_per_field=(5, 15),
    seed: int = 0,
    wells=None,
    dtype=np.uint16,
    name: str = "synthetic",
    **write_options,
) -> dict[str, list[dict]]:
    """Write a synthetic plate and return its known counts ``{well: [per-field counts]}``.

    ``rows`` x ``columns`` wells from ``A01`` (e.g. 16 x 24 for a full 384-well plate), or
    the explicit ``wells``. ``objects_per_field`` is a count or an inclusive ``(low, high)``
    range. The counts are also stored in the plate's ``hcs_steps.known_counts`` attribute.
    ``write_options`` (``codec``, ``ngff_version``) go to ``write_well``.

    Examples
    --------
    >>> import tempfile
    >>> from hcs_steps.plate import open_plate
    >>> counts = synthetic_plate(tempfile.mkdtemp() + "/s.zarr", rows=1, columns=2, z=2,
    ...                          y=48, x=48, objects_per_field=(1, 3), seed=7)
    >>> sorted(counts), all(1 <= c[0]["objects"] <= 3 for c in counts.values())
    (['A01', 'A02'], True)
    """
    names = (
        sort_wells(wells)
        if wells is not None
        else [well_from_indices(r, c) for r in range(rows) for c in range(1, columns + 1)]
    )
    channel_names = [f"c{c}" for c in range(channels)]
    provenance = {
        "step": "synthetic",
        "function": "hcs_steps.plate.synthetic_plate",
        "parameters": {"seed": seed, "objects_per_field": objects_per_field},
    }
    counts = {}
    for well in names:
        data, counts[well] = synthetic_well(
            well,
            fields=fields,
            channels=channels,
            z=z,
            y=y,
            x=x,
            objects_per_field=objects_per_field,
            seed=seed,
            dtype=dtype,
        )
        write_well(
            path, well, data, channel_names=channel_names, provenance=provenance, **write_options
        )
    write_plate_metadata(
        path,
        name=name,
        wells=names,
        channel_names=channel_names,
        field_count=fields,
        extra={"known_counts": counts},
        ngff_version=write_options.get("ngff_version"),
    )
    return counts
