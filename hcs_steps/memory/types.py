"""The memory types and detection of an array's library without importing any library."""

from __future__ import annotations

import enum
import sys


class MemoryType(enum.StrEnum):
    """The array libraries hcs-steps converts between.

    Examples
    --------
    >>> MemoryType("torch") is MemoryType.TORCH
    True
    >>> f"{MemoryType.NUMPY}"
    'numpy'
    """

    NUMPY = "numpy"
    CUPY = "cupy"
    TORCH = "torch"
    TENSORFLOW = "tensorflow"
    JAX = "jax"
    PYCLESPERANTO = "pyclesperanto"
    UNKNOWN = "unknown"


KNOWN_TYPES = tuple(t for t in MemoryType if t is not MemoryType.UNKNOWN)

# Top-level module of an array class -> its memory type. The array classes of jax and
# pyclesperanto live in their compiled helper packages, hence the extra prefixes.
_MODULE_TO_TYPE = {
    "numpy": MemoryType.NUMPY,
    "cupy": MemoryType.CUPY,
    "torch": MemoryType.TORCH,
    "tensorflow": MemoryType.TENSORFLOW,
    "jax": MemoryType.JAX,
    "jaxlib": MemoryType.JAX,
    "pyclesperanto": MemoryType.PYCLESPERANTO,
    "pyclesperanto_opencl": MemoryType.PYCLESPERANTO,
    "pyclesperanto_cuda": MemoryType.PYCLESPERANTO,
    "pyclesperanto_metal": MemoryType.PYCLESPERANTO,
}

# The public array class of each library, as (module, attribute). A class from the right
# package that is not an array (torch.Size, tf.Variable) must stay UNKNOWN.
_ARRAY_CLASS = {
    MemoryType.NUMPY: ("numpy", "ndarray"),
    MemoryType.CUPY: ("cupy", "ndarray"),
    MemoryType.TORCH: ("torch", "Tensor"),
    MemoryType.TENSORFLOW: ("tensorflow", "Tensor"),
    MemoryType.JAX: ("jax", "Array"),
    MemoryType.PYCLESPERANTO: ("pyclesperanto", "Array"),
}

# Placeholders that jax.jit and tf.function trace with: they stand for arrays that do not
# exist yet (no buffer, no device), so nothing can be converted or placed. Matched by the
# base class each library gives them, as (module, class name).
_TRACED_PLACEHOLDERS = {
    ("jax._src.core", "Tracer"): "jax.jit",
    ("tensorflow.python.framework.ops", "SymbolicTensor"): "tf.function",
}

_cache: dict[type, MemoryType] = {}


def detect_memory_type(data) -> MemoryType:
    """Return the memory type of ``data``, or ``MemoryType.UNKNOWN``.

    Decides from the class's module and the libraries already in ``sys.modules``, so it
    never imports a library; the answer is cached per class.

    Examples
    --------
    >>> import numpy as np
    >>> detect_memory_type(np.zeros((1, 2, 2)))
    <MemoryType.NUMPY: 'numpy'>
    >>> detect_memory_type([1, 2, 3])
    <MemoryType.UNKNOWN: 'unknown'>
    """
    cls = type(data)
    try:
        return _cache[cls]
    except KeyError:
        pass
    found = _detect_class(cls)
    _cache[cls] = found
    return found


def _detect_class(cls: type) -> MemoryType:
    if traced_by(cls) is not None:
        return MemoryType.UNKNOWN
    for klass in cls.__mro__:
        memory_type = _MODULE_TO_TYPE.get(klass.__module__.partition(".")[0])
        if memory_type is None:
            continue
        module_name, attribute = _ARRAY_CLASS[memory_type]
        array_class = getattr(sys.modules.get(module_name), attribute, None)
        if array_class is not None and issubclass(cls, array_class):
            return memory_type
    return MemoryType.UNKNOWN


def traced_by(cls: type) -> str | None:
    """``"jax.jit"`` or ``"tf.function"`` for the placeholder classes they trace with."""
    for klass in cls.__mro__:
        tracer = _TRACED_PLACEHOLDERS.get((klass.__module__, klass.__qualname__))
        if tracer is not None:
            return tracer
    return None


def unsupported_array_message(data, wanted: str = "an array") -> str:
    """Why ``data`` is not an array hcs-steps accepts, saying what it accepts instead."""
    tracer = traced_by(type(data))
    if tracer is not None:
        return (
            f"got {_type_name(data)}, a symbolic placeholder traced by {tracer}: hcs-steps "
            f"converts concrete arrays only; call the function outside {tracer}"
        )
    return f"expected {wanted} of {accepted_types()}; got {_type_name(data)}"


def validate_memory_type(data) -> MemoryType:
    """Return the memory type of ``data``; raise ``TypeError`` when it is not a known array.

    Examples
    --------
    >>> import numpy as np
    >>> validate_memory_type(np.zeros(3))
    <MemoryType.NUMPY: 'numpy'>
    >>> validate_memory_type("not an array")
    Traceback (most recent call last):
    ...
    TypeError: expected an array of numpy, cupy, torch, tensorflow, jax or pyclesperanto; got str
    """
    memory_type = detect_memory_type(data)
    if memory_type is MemoryType.UNKNOWN:
        raise TypeError(unsupported_array_message(data))
    return memory_type


def as_memory_type(value) -> MemoryType:
    """Parse a declared memory type (a ``MemoryType`` or its name); UNKNOWN is not allowed."""
    try:
        memory_type = MemoryType(value)
    except ValueError:
        memory_type = MemoryType.UNKNOWN
    if memory_type is MemoryType.UNKNOWN:
        raise ValueError(f"unknown memory type {value!r}; expected one of {accepted_types()}")
    return memory_type


def accepted_types() -> str:
    names = [t.value for t in KNOWN_TYPES]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _type_name(data) -> str:
    cls = type(data)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
