"""Refuse zarr arrays that are unsafe or unusable before zarr opens them.

A zarr v2 array with an object dtype carries a codec (``pickle``, ``vlen-*``, ``json2``...)
that turns bytes into Python objects; ``pickle`` runs code while loading. Only plain numeric
dtypes and an allow-list of byte codecs are accepted, checked on the raw JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hcs_steps.plate.errors import PlateDataError

# Codecs that map bytes to bytes (or numbers to bytes) without building Python objects.
SAFE_V3_CODECS = frozenset(
    {
        "bytes",
        "blosc",
        "zstd",
        "gzip",
        "crc32c",
        "transpose",
        "sharding_indexed",
        "numcodecs.lz4",
        "numcodecs.zlib",
        "numcodecs.bz2",
        "numcodecs.lzma",
        "numcodecs.delta",
        "numcodecs.shuffle",
        "numcodecs.fletcher32",
    }
)
SAFE_V2_CODECS = frozenset(
    {
        "blosc",
        "zstd",
        "lz4",
        "zlib",
        "gzip",
        "bz2",
        "lzma",
        "delta",
        "shuffle",
        "crc32",
        "fletcher32",
    }
)
NUMERIC_KINDS = "biuf"


@dataclass(frozen=True)
class ArrayInfo:
    """What plate I/O needs to know of an array before reading it."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    zarr_format: int


def _v3_codec_names(codecs) -> list[str]:
    names = []
    for codec in codecs or []:
        name = codec if isinstance(codec, str) else codec.get("name", "?")
        names.append(name)
        if name == "sharding_indexed":
            config = codec.get("configuration", {})
            names += _v3_codec_names(config.get("codecs"))
            names += _v3_codec_names(config.get("index_codecs"))
    return names


def _numeric_dtype(spec, where: str) -> np.dtype:
    try:
        dtype = np.dtype(spec)
    except (TypeError, ValueError):  # v3 extension dtypes are JSON objects
        dtype = None
    if dtype is None or dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        raise PlateDataError(
            f"{where} has dtype {spec!r}; only numeric dtypes (bool, int, uint, float) are "
            "read: object and structured arrays can carry pickled Python objects"
        )
    return dtype


def check_array(directory: Path) -> ArrayInfo:
    """Validate the array metadata at ``directory`` and return its :class:`ArrayInfo`.

    Raises :class:`PlateDataError` for a missing array, a non-numeric dtype or a codec
    outside the allow-list (naming the codec).
    """
    if (directory / "zarr.json").is_file():
        meta = json.loads((directory / "zarr.json").read_bytes())
        if meta.get("node_type") != "array":
            raise PlateDataError(f"{directory} is a zarr {meta.get('node_type')}, not an array")
        dtype = _numeric_dtype(meta.get("data_type"), str(directory))
        codecs = _v3_codec_names(meta.get("codecs"))
        unsafe = [c for c in codecs if c not in SAFE_V3_CODECS]
        grid = meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape")
        zarr_format = 3
    elif (directory / ".zarray").is_file():
        meta = json.loads((directory / ".zarray").read_bytes())
        dtype = _numeric_dtype(meta.get("dtype"), str(directory))
        codecs = [f.get("id", "?") for f in (meta.get("filters") or [])]
        if meta.get("compressor"):
            codecs.append(meta["compressor"].get("id", "?"))
        unsafe = [c for c in codecs if c not in SAFE_V2_CODECS]
        grid = meta.get("chunks")
        zarr_format = 2
    else:
        raise PlateDataError(f"no zarr array at {directory} (no zarr.json or .zarray)")
    if unsafe:
        raise PlateDataError(
            f"{directory} uses codec(s) {unsafe} that are not read (they can build Python "
            f"objects or are unknown); accepted: {sorted(SAFE_V3_CODECS | SAFE_V2_CODECS)}"
        )
    return ArrayInfo(tuple(meta["shape"]), tuple(grid), dtype, zarr_format)
