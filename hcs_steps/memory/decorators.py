"""Decorators that declare a function's memory types and convert, check and guard its calls.

Everything that can be decided once is decided at decoration time; a call only detects
the input's library (a cached dictionary lookup), converts if needed, and checks the
result.
"""

from __future__ import annotations

import functools

from .adapters import adapter_for
from .adapters.base import is_cuda
from .convert import convert
from .device import _local, resolve_device
from .errors import MemoryConversionError, NoCudaDeviceError
from .oom import is_oom, recover_from_oom
from .streams import needs_stream, thread_stream
from .types import MemoryType, as_memory_type, detect_memory_type, unsupported_array_message

_NUMPY = MemoryType.NUMPY
_UNKNOWN = MemoryType.UNKNOWN


def memory_types(
    input_type, output_type=None, *, oom_recovery=None, requires_gpu=False, slice_by_slice=False
):
    """Declare the memory types a ``[Z, Y, X]`` stack function takes and returns.

    Parameters
    ----------
    input_type : MemoryType or str
        The library the function receives its stack in, on the job's device.
    output_type : MemoryType or str, optional
        The library it returns; ``input_type`` by default.
    oom_recovery : bool, optional
        Free caches and retry, then split along Z, on out-of-memory errors. On by default
        unless both types are numpy.
    requires_gpu : bool
        Refuse to run when the job's device is not a CUDA GPU.
    slice_by_slice : bool
        The function takes one 2D ``[Y, X]`` plane; it is applied per Z plane and the
        results are restacked. Special outputs become per-plane lists.

    Notes
    -----
    The function receives a view of the caller's buffer wherever the two libraries can
    share memory (numpy, torch, jax and tensorflow on the host), so it must not modify its
    input in place; a jax or tensorflow array reaches it read-only (numpy) or as a copy
    (torch, cupy), never as a writable view.

    Examples
    --------
    >>> import numpy as np
    >>> @memory_types(input_type="numpy", output_type="numpy")
    ... def invert(stack, *, maximum=255):
    ...     return maximum - stack
    >>> invert(np.zeros((1, 2, 2), np.uint8)).tolist()
    [[[255, 255], [255, 255]]]
    >>> invert.input_memory_type, invert.oom_recovery
    (<MemoryType.NUMPY: 'numpy'>, False)
    >>> invert(np.zeros((2, 2), np.uint8))
    Traceback (most recent call last):
    ...
    ValueError: invert: the input must be a 3D [Z, Y, X] stack; got shape (2, 2) (2D)
    """
    in_type = as_memory_type(input_type)
    out_type = in_type if output_type is None else as_memory_type(output_type)
    if oom_recovery is None:
        oom_recovery = in_type is not _NUMPY or out_type is not _NUMPY

    def decorate(func):
        return _wrap(func, in_type, out_type, bool(oom_recovery), requires_gpu, slice_by_slice)

    return decorate


def library_decorator(library) -> callable:
    """The decorator of one library (``@torch``): :func:`memory_types` with that library
    in and out; a library that cannot hold host arrays (cupy) always requires a GPU."""
    library = as_memory_type(library)
    always_gpu = not adapter_for(library).host_capable

    def decorator(
        func=None,
        *,
        input_type=library,
        output_type=library,
        oom_recovery=None,
        requires_gpu=always_gpu,
        slice_by_slice=False,
    ):
        decorate = memory_types(
            input_type,
            output_type,
            oom_recovery=oom_recovery,
            requires_gpu=requires_gpu or always_gpu,
            slice_by_slice=slice_by_slice,
        )
        return decorate if func is None else decorate(func)

    decorator.__name__ = decorator.__qualname__ = library.value
    decorator.__doc__ = (
        f"Declare a {library.value} function; usable bare (``@{library.value}``) or with the "
        "options of :func:`memory_types` (``input_type``, ``output_type``, "
        "``oom_recovery``, ``requires_gpu``, ``slice_by_slice``)."
    )
    return decorator


numpy = library_decorator("numpy")
cupy = library_decorator("cupy")
torch = library_decorator("torch")
tensorflow = library_decorator("tensorflow")
jax = library_decorator("jax")
pyclesperanto = library_decorator("pyclesperanto")


def _wrap(func, in_type, out_type, oom_recovery, requires_gpu, slice_by_slice):
    name = getattr(func, "__qualname__", repr(func))
    in_adapter, out_adapter = adapter_for(in_type), adapter_for(out_type)
    oom_adapters = tuple({in_adapter.memory_type: in_adapter, out_type: out_adapter}.values())
    body = _per_plane(func, name) if slice_by_slice else func
    host_only = in_type is _NUMPY and out_type is _NUMPY and not requires_gpu
    stream_type = in_type if in_adapter.streams else out_type

    def run(stack, args, kwargs):
        try:
            return body(stack, *args, **kwargs)
        except Exception as exc:
            if not (oom_recovery and is_oom(exc, oom_adapters)):
                raise
            return recover_from_oom(
                lambda part: body(part, *args, **kwargs), stack, oom_adapters, name, exc
            )

    static_placements = {}

    def placements(job_device):
        try:
            return static_placements[job_device]
        except KeyError:
            pass
        found = (
            "cpu" if in_type is _NUMPY else in_adapter.placement(job_device),
            "cpu" if out_type is _NUMPY else out_adapter.placement(job_device),
        )
        # A library whose device is its own mutable state (pyclesperanto) is asked anew.
        if in_adapter.fixed_placement and out_adapter.fixed_placement:
            static_placements[job_device] = found
        return found

    def call(stack, source, in_device, out_device, args, kwargs):
        if source is not in_type or in_adapter.device_of(stack) != in_device:
            stack = _convert_input(name, stack, in_type, in_device)
        return _checked(name, run(stack, args, kwargs), out_type, out_adapter, out_device)

    @functools.wraps(func)
    def wrapper(stack, *args, **kwargs):
        source = detect_memory_type(stack)
        if source is _UNKNOWN:
            raise TypeError(f"{name}: {unsupported_array_message(stack, 'a [Z, Y, X] stack')}")
        if len(stack.shape) != 3 or 0 in stack.shape:
            raise _not_3d(name, "input", stack)
        if host_only:
            if source is not _NUMPY:
                stack = _convert_input(name, stack, _NUMPY, None)
            return _checked(name, run(stack, args, kwargs), out_type, out_adapter, None)

        job_device = resolve_device()
        if requires_gpu and not is_cuda(job_device):
            raise NoCudaDeviceError(
                f"{name} requires a CUDA GPU, but the job's device is {job_device!r} "
                "(no CUDA device is available or HCS_STEPS_DEVICE says cpu)"
            )
        in_device, out_device = placements(job_device)
        # use_device() by hand: the generator-based context manager costs microseconds on
        # every call, and code inside the function must see the job's device.
        previous = getattr(_local, "device", None)
        _local.device = job_device
        try:
            if needs_stream(stream_type, job_device):
                with thread_stream(stream_type, job_device):
                    return call(stack, source, in_device, out_device, args, kwargs)
            return call(stack, source, in_device, out_device, args, kwargs)
        finally:
            _local.device = previous

    wrapper.input_memory_type = in_type
    wrapper.output_memory_type = out_type
    wrapper.oom_recovery = oom_recovery
    wrapper.requires_gpu = requires_gpu
    wrapper.slice_by_slice = slice_by_slice
    return wrapper


def _checked(name, result, out_type, out_adapter, out_device):
    stack = result
    if type(result) is tuple:
        if len(result) != 2 or not isinstance(result[1], dict):
            raise TypeError(
                f"{name} must return a stack or (stack, special_outputs) with a dict of "
                f"special outputs; got a tuple of {len(result)} items"
            )
        stack = result[0]
    found = detect_memory_type(stack)
    if found is not out_type:
        got = found.value if found is not _UNKNOWN else type(stack).__qualname__
        raise TypeError(f"{name} is declared to return {out_type.value} but returned {got}")
    if len(stack.shape) != 3 or 0 in stack.shape:
        raise _not_3d(name, "output", stack)
    if out_device is not None:
        actual = out_adapter.device_of(stack)
        if actual != out_device:
            raise RuntimeError(
                f"{name} returned data on {actual!r}, but its job runs on {out_device!r}"
            )
    return result


def _convert_input(name, stack, to, device):
    try:
        return convert(stack, to, device=device)
    except MemoryConversionError as exc:
        # The router knows libraries, not callers: name the function and what it was given.
        shape = tuple(int(n) for n in stack.shape)
        raise MemoryConversionError(
            exc.source_type,
            exc.target_type,
            exc.method,
            f"{exc.reason} (the input of {name}: shape {shape}, dtype {stack.dtype})",
        ) from exc


def _not_3d(name, role, stack) -> ValueError:
    shape = tuple(int(n) for n in stack.shape)
    # Three axes, one of them empty: no plane or no pixel to process.
    what = "an empty axis" if len(shape) == 3 else f"{len(shape)}D"
    return ValueError(
        f"{name}: the {role} must be a 3D [Z, Y, X] stack; got shape {shape} ({what})"
    )


def _per_plane(func, name):
    """Apply a 2D function to each Z plane and restack; special outputs become lists."""

    @functools.wraps(func)
    def per_plane(stack, *args, **kwargs):
        planes, specials = [], {}
        for z in range(stack.shape[0]):
            result = func(stack[z], *args, **kwargs)
            if type(result) is tuple:
                result, special = result
                for key, value in special.items():
                    specials.setdefault(key, []).append(value)
            if len(result.shape) != 2:
                shape = tuple(int(n) for n in result.shape)
                raise ValueError(
                    f"{name}: a slice_by_slice function must return a 2D [Y, X] plane; "
                    f"got shape {shape} for plane {z}"
                )
            planes.append(result)
        restacked = adapter_for(detect_memory_type(planes[0])).stack(planes)
        return (restacked, specials) if specials else restacked

    return per_plane
