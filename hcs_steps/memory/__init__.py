"""The memory type system: detect, convert and declare arrays of six libraries.

numpy, cupy, torch, tensorflow, jax and pyclesperanto arrays are told apart without
importing any library (:func:`detect_memory_type`), converted through one router
(:func:`convert`) that shares memory where the libraries allow it and never changes a
dtype silently, and handed to functions through decorators (:func:`torch`,
:func:`memory_types`, ...) that convert inputs to the declared type on the job's device
(:func:`resolve_device`) and check that outputs are ``[Z, Y, X]`` stacks of the declared
type on that device.
"""

from .convert import convert, convert_memory
from .decorators import cupy, jax, memory_types, numpy, pyclesperanto, tensorflow, torch
from .device import device_of, resolve_device, to_device, use_device
from .errors import (
    MemoryConversionError,
    MissingLibraryError,
    NoCudaDeviceError,
    NoOpenCLDeviceError,
    OutOfMemoryError,
)
from .pairs import *  # noqa: F403  (the 30 convert_<a>_to_<b> functions)
from .pairs import __all__ as _pair_names
from .streams import run_on
from .types import MemoryType, detect_memory_type, validate_memory_type

__all__ = [
    "MemoryConversionError",
    "MemoryType",
    "MissingLibraryError",
    "NoCudaDeviceError",
    "NoOpenCLDeviceError",
    "OutOfMemoryError",
    "convert",
    "convert_memory",
    "cupy",
    "detect_memory_type",
    "device_of",
    "jax",
    "memory_types",
    "numpy",
    "pyclesperanto",
    "resolve_device",
    "run_on",
    "tensorflow",
    "to_device",
    "torch",
    "use_device",
    "validate_memory_type",
    *_pair_names,
]
