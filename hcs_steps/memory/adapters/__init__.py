"""One adapter per array library; :func:`adapter_for` hands out a shared instance.

An adapter class is the whole declaration of a library (see :class:`~.base.Adapter`):
adding a library means adding one module with one subclass, and importing it here (or,
for a library outside hcs-steps, anywhere before use). Adapter modules import their
library only when first used.
"""

from __future__ import annotations

import importlib

from ..types import MemoryType, as_memory_type
from .base import ADAPTER_CLASSES, Adapter

# The built-in libraries, declared in this order (the order messages and tests list them).
BUILT_IN = ("numpy", "cupy", "torch", "tensorflow", "jax", "pyclesperanto")
for _module in BUILT_IN:
    importlib.import_module(f"{__name__}.{_module}")

_instances: dict[MemoryType, Adapter] = {}


def adapter_for(memory_type) -> Adapter:
    """The adapter of ``memory_type`` (a ``MemoryType`` or its name).

    Examples
    --------
    >>> adapter_for("numpy").memory_type
    <MemoryType.NUMPY: 'numpy'>
    """
    try:
        return _instances[memory_type]
    except KeyError:
        pass
    memory_type = as_memory_type(memory_type)
    return _instances.setdefault(memory_type, ADAPTER_CLASSES[memory_type]())


def adapter_classes() -> dict[MemoryType, type[Adapter]]:
    """Every declared library's adapter class, in declaration order."""
    return dict(ADAPTER_CLASSES)


__all__ = ["Adapter", "adapter_classes", "adapter_for"]
