"""Thread-local CUDA streams for cupy and torch.

Each thread gets its own non-default stream per (library, device), so concurrent jobs in
one process do not serialise on the default stream. The stream waits for the caller's
queued work before the block runs, and is synchronised when the block ends, before the
result is handed to code that knows nothing of the stream.
"""

from __future__ import annotations

import contextlib
import threading

from .adapters import adapter_for
from .adapters.base import is_cuda, parse_device
from .types import MemoryType, as_memory_type

_local = threading.local()


def needs_stream(memory_type: MemoryType, device: str) -> bool:
    return is_cuda(device) and adapter_for(memory_type).streams


def thread_stream_of(memory_type: MemoryType, device: str):
    """This thread's stream for ``memory_type`` on ``device``, created on first use."""
    streams = _local.__dict__.setdefault("streams", {})
    key = (memory_type, device)
    stream = streams.get(key)
    if stream is None:
        stream = adapter_for(memory_type).new_stream(parse_device(device)[1])
        streams[key] = stream
    return stream


@contextlib.contextmanager
def thread_stream(memory_type: MemoryType, device: str):
    """Make this thread's stream current on ``device`` for the block; synchronise after.

    The stream first waits for the work already queued on the stream that was current
    (the caller may hand in data whose kernels are still running there), and is
    synchronised when the block ends, also when it raises, so that nothing the block
    queued is still running when its result or its error reaches the caller.
    """
    stream = thread_stream_of(memory_type, device)
    active = _local.__dict__.setdefault("active", set())
    key = (memory_type, device)
    if key in active:
        # Nested inside this thread's scope for the same stream (a decorated call inside
        # a segment's run_on): the outer scope waits and synchronises, once.
        yield stream
        return
    active.add(key)
    try:
        with adapter_for(memory_type).stream_scope(stream, parse_device(device)[1]):
            yield stream
    except BaseException:
        # The caller may free or reuse the inputs once it has the error; a failure to
        # synchronise must not hide that error, which is the one worth reporting.
        with contextlib.suppress(Exception):
            stream.synchronize()
        raise
    finally:
        active.discard(key)
    stream.synchronize()


@contextlib.contextmanager
def run_on(memory_type, device):
    """Run a block of calls of ``memory_type`` on ``device``: the one place that sets both.

    Decorated calls inside the block run on ``device`` (as :func:`use_device` would); on a
    CUDA GPU, a library with streams (cupy, torch) also gets this thread's stream, made
    current once for the whole block and synchronised once when it ends, instead of around
    every call. ``device=None`` leaves the device to the usual resolution (pyclesperanto
    picks its own OpenCL device).

    Examples
    --------
    >>> from hcs_steps.memory import resolve_device
    >>> with run_on("numpy", "cpu"):
    ...     resolve_device()
    'cpu'
    """
    from .device import use_device

    memory_type = as_memory_type(memory_type)
    if device is None:
        yield
        return
    with use_device(device) as device:
        if needs_stream(memory_type, device):
            with thread_stream(memory_type, device):
                yield
        else:
            yield
