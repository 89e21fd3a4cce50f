"""Write one field of a well channel by channel: its image array, labels and metadata.

A :class:`FieldWriter` (from :meth:`hcs_steps.plate.writer.WellWriter.field`) takes each
channel's ``(Z, Y, X)`` stack as soon as it exists, so a job never holds a whole field of
results: a channel is cast to the well's dtype, written, added to the well's checksum and
can then be freed. The well's dtype is that of its first field's channels together (as if
the field had been written at once): while the first field is written, a channel that its
array's dtype cannot hold widens the array, whose earlier channels are copied over one at
a time (a ``float32`` filter on some channels, the others passed through as ``uint16``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from hcs_steps.plate import ngff
from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.labels import LABELS_GROUP, check_field_labels, label_metadata
from hcs_steps.plate.provenance import StreamingChecksum

ARRAY_PATH = "0"
# Where a widened array is built before it replaces the narrower one (inside the field's
# group, in the well's temporary directory: never seen by readers).
WIDENED_PATH = "widened"
# Chunks of about 4 MiB: whole planes, several of them when planes are small. Measured in
# benchmarks/plate_io.py: chunks of 8 planes of 512 x 512 read 1.5-1.8x and write 2x faster
# than chunks of one plane (blosc-lz4).
CHUNK_TARGET_BYTES = 4 << 20


class FieldWriter:
    """The next field of a :class:`~hcs_steps.plate.writer.WellWriter`, channel by channel.

    Call :meth:`write_channel` once per channel, in order, then :meth:`finish` with the
    field's labels. The first channel of the well fixes its ``(Z, Y, X)`` shape.
    """

    def __init__(self, well, index: int):
        self.well, self.index = well, index
        self.where = f"well {well.well}, field {index}"
        self.image = well.group.create_group(str(index))
        self.array = None
        self.windows: list[tuple[float, float]] = []

    def write_channel(self, stack) -> None:
        """Write the field's next channel, a numeric ``(Z, Y, X)`` stack."""
        well, channel = self.well, len(self.windows)
        names = len(well.channel_names)
        if channel >= names:
            raise PlateDataError(f"{self.where}: more than {names} channels for {names} names")
        stack = np.asarray(stack)
        _check_channel(f"{self.where}, channel {channel}", stack)
        if well.shape_dtype is None:
            well.shape_dtype = (stack.shape, stack.dtype)
        shape, dtype = well.shape_dtype
        if stack.shape != shape:
            raise PlateDataError(
                f"{self.where}: channels differ in shape: channel {channel} is {stack.shape}, "
                f"the well's channels are {shape}"
            )
        if not np.can_cast(stack.dtype, dtype, "safe"):
            if self.index > 0:
                raise PlateDataError(
                    f"{self.where}: channel {channel} is {stack.shape} {stack.dtype}, but field "
                    f"0 was {shape} {dtype}; every field of a well must have the same shape "
                    "and dtype"
                )
            self._widen(np.result_type(dtype, stack.dtype))
        if self.array is None:
            self.array = self._new_array(ARRAY_PATH)
        self._write(channel, stack)

    def finish(self, labels=None) -> None:
        """Write the field's ``labels`` (name -> integer ``(Z, Y, X)`` array of its shape)
        and metadata; the field is then part of the well."""
        well = self.well
        written, names = len(self.windows), len(well.channel_names)
        if written != names:
            raise PlateDataError(f"{self.where}: {written} channels for {names} names")
        shape, _ = well.shape_dtype
        checked = check_field_labels(self.where, labels or {}, shape)
        if checked:
            write_labels(self.image, checked, well.fmt, well.codec, well.pixel_size_zyx)
        ngff.image_metadata(
            self.image,
            well.fmt,
            array_path=ARRAY_PATH,
            channel_names=well.channel_names,
            windows=self.windows,
            scale_zyx=well.pixel_size_zyx,
            name=f"{well.well} field {self.index}",
        )
        well.field_finished(self)

    def _new_array(self, path: str):
        well = self.well
        shape, dtype = well.shape_dtype
        if well.checksum is None:
            well.checksum = StreamingChecksum(dtype, (well.fields, len(well.channel_names), *shape))
        return create_array(
            self.image,
            (len(well.channel_names), *shape),
            dtype,
            ("c", "z", "y", "x"),
            well.fmt,
            well.codec,
            well.chunk_planes,
            path=path,
        )

    def _write(self, channel: int, stack: np.ndarray) -> None:
        stack = stack.astype(self.well.shape_dtype[1], copy=False)
        write_channel_data(self.array, channel, stack, self.well.checksum)
        if channel == len(self.windows):
            self.windows.append((float(stack.min()), float(stack.max())))

    def _widen(self, dtype: np.dtype) -> None:
        """Rebuild the first field's array in ``dtype``, one written channel at a time."""
        self.well.shape_dtype = (self.well.shape_dtype[0], dtype)
        self.well.checksum = None  # the first field's channels go in again, widened
        narrow, self.array = self.array, None
        if narrow is None:
            return
        self.array = self._new_array(WIDENED_PATH)
        for channel in range(len(self.windows)):
            self._write(channel, narrow[channel])
        directory = Path(self.well.tmp, str(self.index))
        shutil.rmtree(directory / ARRAY_PATH)
        (directory / WIDENED_PATH).rename(directory / ARRAY_PATH)
        self.array = self.image[ARRAY_PATH]


def _check_channel(where: str, stack: np.ndarray) -> None:
    if stack.ndim != 3 or min(stack.shape) == 0 or stack.dtype.kind not in "biuf":
        raise PlateDataError(
            f"{where}: a channel is {stack.shape} {stack.dtype}; expected non-empty numeric "
            "(Z, Y, X)"
        )


def write_channel_data(array, channel: int, stack: np.ndarray, checksum) -> None:
    """Write one channel (already in the array's dtype) and add it to the well's checksum."""
    array[channel] = stack
    checksum.update(stack)


def create_array(group, shape, dtype, dimension_names, fmt, codec, chunk_planes, path=ARRAY_PATH):
    """A new array at ``path`` of ``group``: whole (Y, X) planes per chunk, one channel per
    chunk, ``chunk_planes`` planes (default: :data:`CHUNK_TARGET_BYTES`)."""
    from hcs_steps.plate.codecs import codec_options

    extra = (
        {"dimension_names": dimension_names}
        if fmt.zarr_format == 3
        else {"chunk_key_encoding": fmt.chunk_key_encoding}
    )
    planes, y, x = shape[-3:]
    dtype = np.dtype(dtype)
    if chunk_planes is None:
        chunk_planes = max(1, CHUNK_TARGET_BYTES // (y * x * dtype.itemsize))
    # write_empty_chunks: every chunk exists on disk, so a missing chunk file means damage.
    return group.create_array(
        path,
        shape=shape,
        dtype=dtype,
        chunks=(*(1 for _ in shape[:-3]), min(chunk_planes, planes), y, x),
        fill_value=0,
        **codec_options(codec, fmt.zarr_format),
        config={"write_empty_chunks": True},
        **extra,
    )


def write_labels(image, labels: dict[str, np.ndarray], fmt, codec, scale_zyx) -> None:
    """Write a field's label images as its OME-NGFF ``labels`` (their own dtype)."""
    group = image.create_group(LABELS_GROUP)
    for name, stack in labels.items():
        array = create_array(
            group.create_group(name), stack.shape, stack.dtype, ("z", "y", "x"), fmt, codec, None
        )
        array[...] = stack
        label_metadata(group, name, fmt, array_path=ARRAY_PATH, scale_zyx=scale_zyx)
