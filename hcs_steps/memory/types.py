"""The memory types and detection of an array's library without importing any library."""

from __future__ import annotations

import sys


class _MemoryTypeMeta(type):
    """Lets ``MemoryType`` be iterated like an Enum, over the libraries declared so far."""

    def __iter__(cls):
        members = tuple(cls._members.values())
        return iter(members[1:] + members[:1])  # UNKNOWN, declared first, listed last

    def __len__(cls):
        return len(cls._members)

    def __getattr__(cls, attribute):
        # MemoryType.TORCH before the built-in adapters were imported: import them (they
        # declare their libraries without importing the libraries themselves).
        if attribute.isupper() and not attribute.startswith("_"):
            import hcs_steps.memory.adapters  # noqa: F401

            member = cls._members.get(attribute.lower())
            if member is not None:
                return member
        raise AttributeError(f"type object 'MemoryType' has no attribute {attribute!r}")


class MemoryType(str, metaclass=_MemoryTypeMeta):
    """An array library that hcs-steps converts between.

    One member per library, declared by that library's adapter class
    (:mod:`hcs_steps.memory.adapters`), plus ``UNKNOWN``. Members are unique and compare
    equal to their names, as a ``StrEnum``'s would.

    Examples
    --------
    >>> MemoryType("torch") is MemoryType.TORCH
    True
    >>> f"{MemoryType.NUMPY}", MemoryType.NUMPY.value
    ('numpy', 'numpy')
    >>> MemoryType("nonsense")
    Traceback (most recent call last):
    ...
    ValueError: 'nonsense' is not a valid MemoryType
    """

    _members: dict[str, MemoryType] = {}

    def __new__(cls, value):
        if isinstance(value, MemoryType):
            return value
        try:
            return cls._members[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a valid MemoryType") from None

    @classmethod
    def declare(cls, name: str, array_modules=(), array_class=None) -> MemoryType:
        """Add the library ``name``, whose array class is ``array_class`` (module, attribute),
        defined in one of the top-level modules ``array_modules``; return its member."""
        if not name.isidentifier() or name != name.lower():
            raise ValueError(f"a memory type name is a lower-case identifier; got {name!r}")
        member = cls._members.get(name)
        if member is None:
            member = str.__new__(cls, name)
            cls._members[name] = member
            type.__setattr__(cls, name.upper(), member)
        for module in array_modules:
            _MODULE_TO_TYPE[module] = member
        if array_class is not None:
            _ARRAY_CLASS[member] = array_class
        _cache.clear()  # classes seen before may belong to this library
        return member

    @property
    def value(self) -> str:
        return str(self)

    @property
    def name(self) -> str:
        return self.upper()

    def __repr__(self):
        return f"<MemoryType.{self.name}: {self.value!r}>"

    def __reduce__(self):
        return MemoryType, (str(self),)


# Top-level module of an array class -> its memory type, and each library's public array
# class as (module, attribute): a class from the right package that is not an array
# (torch.Size, tf.Variable) must stay UNKNOWN. Filled by MemoryType.declare.
_MODULE_TO_TYPE: dict[str, MemoryType] = {}
_ARRAY_CLASS: dict[MemoryType, tuple[str, str]] = {}


def known_types() -> tuple[MemoryType, ...]:
    """Every declared library, in declaration order (``UNKNOWN`` excluded)."""
    import hcs_steps.memory.adapters  # noqa: F401  (declares the built-in libraries)

    return tuple(t for t in MemoryType if t is not MemoryType.UNKNOWN)


# Placeholders that jax.jit and tf.function trace with: they stand for arrays that do not
# exist yet (no buffer, no device), so nothing can be converted or placed. Matched by the
# base class each library gives them, as (module, class name).
_TRACED_PLACEHOLDERS = {
    ("jax._src.core", "Tracer"): "jax.jit",
    ("tensorflow.python.framework.ops", "SymbolicTensor"): "tf.function",
}

_cache: dict[type, MemoryType] = {}

MemoryType.declare("unknown")


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
    if not _ARRAY_CLASS:
        import hcs_steps.memory.adapters  # noqa: F401  (declares the built-in libraries)
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
    names = [t.value for t in known_types()]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _type_name(data) -> str:
    cls = type(data)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
