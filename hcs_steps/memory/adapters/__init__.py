"""One adapter per array library; :func:`adapter_for` hands out a shared instance.

Adding a library means adding one module with one :class:`~.base.Adapter` subclass and
one line in ``_ADAPTERS``. Adapter modules import their library only when first used.
"""

from __future__ import annotations

import importlib

from ..types import MemoryType, as_memory_type
from .base import Adapter

_ADAPTERS = {
    MemoryType.NUMPY: ("numpy", "NumpyAdapter"),
    MemoryType.CUPY: ("cupy", "CupyAdapter"),
    MemoryType.TORCH: ("torch", "TorchAdapter"),
    MemoryType.TENSORFLOW: ("tensorflow", "TensorflowAdapter"),
    MemoryType.JAX: ("jax", "JaxAdapter"),
    MemoryType.PYCLESPERANTO: ("pyclesperanto", "PyclesperantoAdapter"),
}

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
    module_name, class_name = _ADAPTERS[memory_type]
    module = importlib.import_module(f"{__name__}.{module_name}")
    instance = _instances.setdefault(memory_type, getattr(module, class_name)())
    return instance


__all__ = ["Adapter", "adapter_for"]
