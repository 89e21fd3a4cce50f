"""Helpers for the memory tests: raw pointers, host copies and each library's real OOM."""

from __future__ import annotations

import numpy as np

from hcs_steps.buffers import aligned_empty
from hcs_steps.memory import MemoryType, convert, detect_memory_type

# Libraries whose host buffers hcs-steps hands over without a copy (for aligned arrays).
ZERO_COPY_TYPES = frozenset(
    {MemoryType.NUMPY, MemoryType.TORCH, MemoryType.JAX, MemoryType.TENSORFLOW}
)
# Libraries whose arrays can be written in place (the others are immutable or device-only).
WRITABLE_TYPES = frozenset({MemoryType.NUMPY, MemoryType.TORCH, MemoryType.CUPY})
# Libraries whose arrays never change: a writable library gets a copy of them, never a view.
IMMUTABLE_TYPES = frozenset({MemoryType.JAX, MemoryType.TENSORFLOW})


def is_writable(x) -> bool:
    if detect_memory_type(x) is MemoryType.NUMPY:
        return bool(x.flags.writeable)
    return detect_memory_type(x) in WRITABLE_TYPES


def sample(shape=(4, 6, 5), dtype=np.float32) -> np.ndarray:
    """An aligned host stack with distinct, exactly representable values."""
    stack = aligned_empty(shape, dtype)
    stack[...] = (np.arange(stack.size) % 100).reshape(shape)
    return stack


def unaligned(array: np.ndarray, offset: int = 4) -> np.ndarray:
    """A copy of ``array`` whose data pointer is ``offset`` bytes past a 64-byte boundary."""
    raw = aligned_empty(array.nbytes + 64, np.uint8)
    out = raw[offset : offset + array.nbytes].view(array.dtype).reshape(array.shape)
    out[...] = array
    assert out.ctypes.data % 64 == offset
    return out


def host_copy(x) -> np.ndarray:
    """An independent numpy copy of any supported array."""
    return np.array(convert(x, "numpy"), copy=True)


def data_pointer(x) -> int | None:
    """The address of ``x``'s first element, or None where the library hides it."""
    memory_type = detect_memory_type(x)
    if memory_type is MemoryType.NUMPY:
        return x.ctypes.data
    if memory_type is MemoryType.TORCH:
        return x.data_ptr()
    if memory_type is MemoryType.JAX:
        return x.unsafe_buffer_pointer()
    if memory_type is MemoryType.TENSORFLOW:
        return np.asarray(x).ctypes.data if "CPU" in x.device else None
    if memory_type is MemoryType.CUPY:
        return x.data.ptr
    return None


def write_first(x, value) -> None:
    """Write ``value`` into the first element of a writable array in place."""
    x[(0,) * len(x.shape)] = value


def oom_error(memory_type: MemoryType) -> BaseException:
    """The exception each library really raises when memory runs out."""
    if memory_type is MemoryType.NUMPY:
        from numpy._core._exceptions import _ArrayMemoryError

        return _ArrayMemoryError((1 << 40,), np.dtype(np.float64))
    if memory_type is MemoryType.TORCH:
        import torch

        return torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)"
        )
    if memory_type is MemoryType.JAX:
        import jax

        return jax.errors.JaxRuntimeError(
            "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 4294967296 bytes."
        )
    if memory_type is MemoryType.TENSORFLOW:
        import tensorflow as tf

        return tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[4096,4096,64] and type float"
        )
    if memory_type is MemoryType.PYCLESPERANTO:
        return RuntimeError("OpenCL error: CL_MEM_OBJECT_ALLOCATION_FAILURE (clCreateBuffer)")
    if memory_type is MemoryType.CUPY:
        import cupy

        return cupy.cuda.memory.OutOfMemoryError(1 << 32, 1 << 30)
    raise ValueError(memory_type)
