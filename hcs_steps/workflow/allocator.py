"""Give a job's freed image buffers back to the system (glibc malloc), so its peak is its data.

glibc serves an allocation below its mmap threshold from the heap, and hands freed heap
memory back to the system only from the top of the heap. The threshold is dynamic: freeing
a block that had its own mapping raises the threshold to that block's size (up to 32 MiB
on 64-bit), so after a job's first planes and channels have come and gone, buffers of
their size come from the heap, and the holes they leave stay resident while the next
field grows the heap further. ``benchmarks/memory.py`` measured a torch segment on 9
fields of 4 x 2160 x 2160 ``uint16`` at 266 MiB above its start with the dynamic threshold
and 115 MiB with a fixed one; the 40-plane well at 584 and 408 MiB.

:func:`map_large_buffers` fixes the threshold (``mallopt``'s ``M_MMAP_THRESHOLD``, which
also stops the dynamic adjustment): every buffer above it gets its own mapping, returned
to the system when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
# A 1024 x 1024 uint16 plane and anything larger get their own mapping; smaller
# allocations (table rows, metadata, small planes) stay on the heap, where they are cheap.
# Mapping costs page faults: on the 9-field well above the job's system time rose from 7 s
# to 12.5 s at 1 MiB and 13.7 s at glibc's initial 128 KiB, for peaks of 127 and 115 MiB
# (4 MiB: 9.5 s, 132 MiB); its wall time stayed within the noise (36-40 s).
MMAP_THRESHOLD_BYTES = 1 << 20
# Set by a user who tunes glibc malloc themselves (mallopt(3)); then theirs holds.
USER_SETTING = "MALLOC_MMAP_THRESHOLD_"


@functools.cache
def map_large_buffers() -> bool:
    """Fix glibc's mmap threshold for this process, once; whether it is now fixed.

    Does nothing (``False``) where the C library is not glibc (no ``mallopt``: musl,
    macOS) or where the user has set ``MALLOC_MMAP_THRESHOLD_``. The setting is the
    process's: every job of a threaded Snakemake run shares it.
    """
    if USER_SETTING in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
