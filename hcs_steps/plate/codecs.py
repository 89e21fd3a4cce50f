"""Compression codecs for the arrays plate I/O writes, by name, each with a checksum.

``blosc-lz4`` is the default. ``benchmarks/plate_io.py`` (8 wells of a 384-well synthetic
plate, 134 MB of noisy uint16 nuclei, 4 MiB chunks, shared 2-core VM) measured reads of
2.3 GB/s for blosc-lz4, 1.0 GB/s for blosc-zstd, 0.8 GB/s for zstd and 2.6 GB/s without
compression; writes of 228, 80, 86 and 254 MB/s; sizes of 54 %, 40 %, 51 % and 100 %.
lz4 reads and writes at about the speed of no compression (another run: 1.8 vs 1.2 GB/s
read, the machine is shared) with half the bytes on disk, and 2-3x faster than zstd.
Results: ``benchmarks/results/plate_io.json``.

Every chunk of a zarr v3 (NGFF 0.5) array also carries a CRC-32C checksum: a truncated
blosc-lz4 chunk, or any chunk of an uncompressed array, otherwise decodes without error
into wrong pixels. The checksum costs little (several GB/s). Zarr v2 (NGFF 0.4) arrays go
without: v2 has no checksum codec that other readers (e.g. ngff-zarr) accept.
"""

from __future__ import annotations

from hcs_steps.plate.errors import PlateDataError

CODECS = ("blosc-lz4", "blosc-zstd", "zstd", "none")
DEFAULT_CODEC = "blosc-lz4"


def codec_options(codec: str, zarr_format: int) -> dict:
    """``filters``/``compressors`` arguments of ``zarr.create_array`` for a codec name.

    Examples
    --------
    >>> codec_options("none", 3)
    {'compressors': (Crc32cCodec(),)}
    >>> codec_options("blosc-lz4", 2)["compressors"]
    Blosc(cname='lz4', clevel=5, shuffle=SHUFFLE, blocksize=0)
    """
    if codec not in CODECS:
        raise PlateDataError(f"codec {codec!r} is not one of {CODECS}")
    # imported here, like zarr everywhere in hcs_steps.plate: see hcs_steps.plate.reader
    import numcodecs
    from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

    if zarr_format == 2:
        if codec == "none":
            compressor = None
        elif codec == "zstd":
            compressor = numcodecs.Zstd(level=3)
        else:
            compressor = numcodecs.Blosc(
                cname=codec.split("-")[1], clevel=5, shuffle=numcodecs.Blosc.SHUFFLE
            )
        return {"compressors": compressor}
    if codec == "none":
        compressor = ()
    elif codec == "zstd":
        compressor = (ZstdCodec(level=3),)
    else:
        compressor = (BloscCodec(cname=codec.split("-")[1], clevel=5, shuffle="shuffle"),)
    return {"compressors": (*compressor, Crc32cCodec())}
