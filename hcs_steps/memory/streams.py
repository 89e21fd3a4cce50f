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
from .types import MemoryType

STREAMED_TYPES = frozenset({MemoryType.CUPY, MemoryType.TORCH})

_local = threading.local()


def needs_stream(memory_type: MemoryType, device: str) -> bool:
    return memory_type in STREAMED_TYPES and is_cuda(device)


def thread_stream_of(memory_type: MemoryType, device: str):
    """This thread's stream for ``memory_type`` on ``device``, created on first use."""
    streams = _local.__dict__.setdefault("streams", {})
    key = (memory_type, device)
    stream = streams.get(key)
    if stream is None:
        lib = adapter_for(memory_type).lib()
        index = parse_device(device)[1]
        if memory_type is MemoryType.CUPY:
            with lib.cuda.Device(index):
                stream = lib.cuda.Stream(non_blocking=True)
        else:
            stream = lib.cuda.Stream(device=index)
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
    lib = adapter_for(memory_type).lib()
    index = parse_device(device)[1]
    stream = thread_stream_of(memory_type, device)
    try:
        if memory_type is MemoryType.CUPY:
            with lib.cuda.Device(index):
                stream.wait_event(lib.cuda.get_current_stream().record())
                with stream:
                    yield stream
        else:
            with lib.cuda.device(index):
                stream.wait_stream(lib.cuda.current_stream(index))
                with lib.cuda.stream(stream):
                    yield stream
    except BaseException:
        # The caller may free or reuse the inputs once it has the error; a failure to
        # synchronise must not hide that error, which is the one worth reporting.
        with contextlib.suppress(Exception):
            stream.synchronize()
        raise
    stream.synchronize()
