"""``convert_<source>_to_<target>`` for every ordered pair of built-in memory types.

Each is :func:`~hcs_steps.memory.convert.convert` with the source checked first, so
pipelines can say exactly which hand-over they expect.
"""

from __future__ import annotations

from .adapters import BUILT_IN
from .convert import convert
from .types import MemoryType, validate_memory_type


def _pair_function(source, target):
    name = f"convert_{source.value}_to_{target.value}"

    def convert_pair(data, *, device=None, allow_cpu_roundtrip=False):
        found = validate_memory_type(data)
        if found is not source:
            raise TypeError(f"{name} expects a {source.value} array; got {found.value}")
        return convert(data, target, device=device, allow_cpu_roundtrip=allow_cpu_roundtrip)

    convert_pair.__name__ = convert_pair.__qualname__ = name
    convert_pair.__module__ = __name__
    convert_pair.__doc__ = (
        f"Convert a {source.value} array to {target.value}; see "
        ":func:`hcs_steps.memory.convert` for the rules."
    )
    return convert_pair


PAIR_FUNCTIONS = {
    f.__name__: f
    for f in (
        _pair_function(source, target)
        for source in map(MemoryType, BUILT_IN)
        for target in map(MemoryType, BUILT_IN)
        if source is not target
    )
}
globals().update(PAIR_FUNCTIONS)

__all__ = sorted(PAIR_FUNCTIONS)
