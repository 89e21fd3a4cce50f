"""Exceptions raised by the memory layer."""

from __future__ import annotations


class MemoryConversionError(RuntimeError):
    """A conversion between two memory types was refused or failed.

    Parameters
    ----------
    source_type, target_type : MemoryType or str
        The library the data came from and the one it was going to.
    method : str
        The route that was tried or refused (``"dlpack"``, ``"host"``, ``"dtype"``, ...).
    reason : str
        Why, in words a user can act on.

    Examples
    --------
    >>> err = MemoryConversionError("numpy", "jax", "dtype", "float64 needs jax x64 mode")
    >>> err.reason
    'float64 needs jax x64 mode'
    >>> str(err)
    'cannot convert numpy to jax (dtype): float64 needs jax x64 mode'
    """

    def __init__(self, source_type, target_type, method: str, reason: str):
        self.source_type = source_type
        self.target_type = target_type
        self.method = method
        self.reason = reason
        super().__init__(
            f"cannot convert {_name(source_type)} to {_name(target_type)} ({method}): {reason}"
        )

    def __reduce__(self):
        return type(self), (self.source_type, self.target_type, self.method, self.reason)


class MissingLibraryError(ImportError):
    """An optional array library is not installed; the message names the extra to install."""


class NoOpenCLDeviceError(MissingLibraryError):
    """pyclesperanto is installed, but it found no OpenCL device; the message says what to
    install. An ``ImportError`` like a missing library: pyclesperanto cannot be used here."""


class NoCudaDeviceError(RuntimeError, ValueError):
    """A CUDA device was asked for that the library cannot use on this machine.

    The message names the device, the library and what to do. It is also a
    ``ValueError``, so that ``to_device``'s contract (an unsupported device raises
    ``ValueError``) holds whether the device string is malformed or names a GPU that this
    machine or this build of the library lacks.
    """


class OutOfMemoryError(MemoryError):
    """A decorated function ran out of memory even after freeing caches and splitting along Z.

    The library's original out-of-memory error is chained as ``__cause__``.
    """


def _name(memory_type) -> str:
    return getattr(memory_type, "value", memory_type)
