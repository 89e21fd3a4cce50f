"""The plate-level flat-field rule: sample a plate's fields, estimate, publish, read back.

One job per plate and ``flatfield_correct`` step. It streams a sample of the plate's fields
(spread evenly over the selected wells) channel by channel, holding one channel's sampled
planes at a time: ``fields x Y x X`` float32, 1 GiB for the default 64 fields of
2048 x 2048. Each field counts with the maximum projection of its stack (the profile is the
same on every plane, and the projection shows each field's content once). The result is a
directory, published whole (:func:`hcs_steps.plate.atomic.publish_directory`):

- ``flatfield.npy`` and ``darkfield.npy``: ``(channels, Y, X)`` float32, in the order of
  ``flatfield.json``'s ``channels``;
- ``flatfield.json``: the method and its parameters, the fields used, per-channel numbers.

Beside it go a plot of each channel's profile and a CSV of the per-channel numbers, for the
report. Every well's segment that applies the correction reads the directory
(:func:`read_illumination`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hcs_steps.workflow.joblog import job_logger

FLAT, DARK, METADATA = "flatfield.npy", "darkfield.npy", "flatfield.json"


def sample_fields(field_counts: dict[str, int], size: int) -> list[tuple[str, int]]:
    """``size`` (well, field) pairs spread evenly over every field of the wells, in order;
    all of them when there are fewer.

    Examples
    --------
    >>> sample_fields({"B02": 2, "B03": 2, "C02": 2}, 3)
    [('B02', 0), ('B03', 0), ('C02', 1)]
    >>> len(sample_fields({"B02": 2}, 64))
    2
    """
    every = [(well, field) for well, count in field_counts.items() for field in range(count)]
    if len(every) <= size:
        return every
    picks = np.linspace(0, len(every) - 1, size).round().astype(int)
    return [every[index] for index in dict.fromkeys(picks.tolist())]


def estimate_memory_mb(fields: int, shape_yx) -> int:
    """The memory an estimate asks for (a cluster job's ``mem_mb``): per sampled pixel its
    float32 plane, and the estimator's float64 copy, scaled copy and median buffer; plus
    half a GiB for the process.

    Examples
    --------
    >>> estimate_memory_mb(64, (2048, 2048))
    7680
    """
    pixels = fields * int(np.prod(shape_yx))
    return int(np.ceil(28 * pixels / 2**20)) + 512


def channel_stats(channel: str, flat: np.ndarray, dark: np.ndarray, fields: int) -> dict:
    """What the report lists per channel: how uneven the flat field is, and the dark field.

    ``max_over_min`` is the brightest over the dimmest corrected position (1 for an even
    illumination); ``std`` is the flat field's standard deviation (its mean is 1).
    """
    return {
        "channel": channel,
        "fields_used": fields,
        "flat_min": float(flat.min()),
        "flat_max": float(flat.max()),
        "max_over_min": float(flat.max() / flat.min()),
        "flat_std": float(flat.std()),
        "dark_mean": float(dark.mean()),
        "dark_max": float(dark.max()),
    }


def _sampled_planes(wells: dict, picks, channel: int, shape) -> np.ndarray:
    planes = np.empty((len(picks), *shape), np.float32)
    for index, (well, field) in enumerate(picks):
        planes[index] = wells[well].read(field, channel).max(axis=0)
    return planes


def estimate_plate(
    spec: dict,
    *,
    plate: str,
    input_plate: str,
    wells: list[str],
    channel_names: list[str],
    out_dir: str,
    plot: str,
    table: str,
    log: str,
) -> None:
    """Estimate the flat (and dark) field of every channel ``spec`` (an
    :meth:`~hcs_steps.workflow.plan.Estimate.spec`) corrects, from the plate's wells."""
    import pandas as pd

    from hcs_steps.plate import open_well
    from hcs_steps.plate.atomic import publish_directory, temporary_sibling
    from hcs_steps.screen.flatfield import estimate_flatfield
    from hcs_steps.workflow.tables import write_outputs

    params = spec["params"]
    channels = [
        name for name in channel_names if spec["channels"] == "all" or name in spec["channels"]
    ]
    with job_logger(log) as logger:
        opened = {
            well: open_well(input_plate, well, channels=list(channel_names)) for well in wells
        }
        counts = {well: images.shape[0] for well, images in opened.items()}
        picks = sample_fields(counts, params["fields"])
        shape = opened[wells[0]].shape[-2:]
        for well, images in opened.items():
            if images.shape[-2:] != shape:
                raise ValueError(
                    f"plate {plate}, well {well}: fields of {images.shape[-2:]} pixels, and "
                    f"well {wells[0]} has {shape}; one flat field needs one field size"
                )
        logger.info(
            "plate %s, step %s: %s estimate from %d of %d fields (%s) of %s",
            plate,
            spec["name"],
            params["method"],
            len(picks),
            sum(images.shape[0] for images in opened.values()),
            "x".join(map(str, shape)),
            input_plate,
        )
        flats, darks, stats = [], [], []
        for channel in channels:
            planes = _sampled_planes(opened, picks, channel_names.index(channel), shape)
            try:
                flat, dark = estimate_flatfield(
                    planes,
                    method=params["method"],
                    darkfield=params["darkfield"],
                    sigma=params["sigma"],
                )
            except ValueError as error:
                raise ValueError(
                    f"plate {plate}, step {spec['name']}, channel {channel}: {error}"
                ) from None
            del planes
            flats.append(flat)
            darks.append(dark)
            stats.append(channel_stats(channel, flat, dark, len(picks)))
            logger.info("channel %s: %s", channel, stats[-1])
        final = Path(out_dir)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(final)
        tmp.mkdir()
        np.save(tmp / FLAT, np.stack(flats))
        np.save(tmp / DARK, np.stack(darks))
        metadata = {
            **spec,
            "plate": plate,
            "input_plate": input_plate,
            "channels": channels,
            "fields": [{"well": well, "field": field} for well, field in picks],
            "stats": stats,
        }
        (tmp / METADATA).write_text(json.dumps(metadata, indent=1))
        publish_directory(tmp, final)
        write_outputs(pd.DataFrame(stats).assign(plate=plate, step=spec["name"]), csv=table)
        plot_profiles(flats, stats, f"plate {plate}, step {spec['name']}", plot)
        logger.info("wrote %s, %s and %s", out_dir, plot, table)


def plot_profiles(flats, stats: list[dict], title: str, path) -> None:
    """Each channel's flat field as an image (one colour scale for all), written atomically."""
    from hcs_steps.plate.atomic import write_with
    from hcs_steps.screen.plots import _figure

    figure = _figure(3.2 * len(flats) + 1, 3.4)
    low = min(float(flat.min()) for flat in flats)
    high = max(float(flat.max()) for flat in flats)
    axes = figure.subplots(1, len(flats), squeeze=False)[0]
    for ax, flat, row in zip(axes, flats, stats, strict=True):
        image = ax.imshow(flat, vmin=low, vmax=high, cmap="magma")
        ax.set_title(
            f"{row['channel']}: {row['flat_min']:.2f}-{row['flat_max']:.2f} "
            f"({row['fields_used']} fields)",
            fontsize=8,
        )
        ax.set_axis_off()
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="flat field (mean 1)")
    figure.suptitle(title, fontsize=9)
    write_with(path, lambda tmp: figure.savefig(tmp, format="png", metadata={"Software": None}))


def read_illumination(directory: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{channel: (flatfield, darkfield)}`` from an estimate's directory.

    Raises
    ------
    ValueError
        Naming the directory when a file is missing or the arrays do not match the channels.
    """
    directory = Path(directory)
    try:
        metadata = json.loads((directory / METADATA).read_text())
        flats, darks = np.load(directory / FLAT), np.load(directory / DARK)
    except (OSError, ValueError) as error:
        raise ValueError(f"flat-field estimate {directory}: unreadable ({error})") from None
    channels = metadata["channels"]
    if flats.shape[0] != len(channels) or darks.shape != flats.shape:
        raise ValueError(
            f"flat-field estimate {directory}: {flats.shape} flat and {darks.shape} dark "
            f"fields for channels {channels}"
        )
    return {name: (flats[i], darks[i]) for i, name in enumerate(channels)}
