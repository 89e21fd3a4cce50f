"""Stream discipline, checked on the CPU against a stand-in for torch's and cupy's CUDA API.

The real streams are exercised by ``test_memory_gpu.py`` on a CUDA machine; here a fake
``lib.cuda`` records the order of events: the thread's stream waits for the caller's
queued work before the block runs, and is synchronised before the block's result or
error reaches the caller.
"""

import contextlib
import threading
import types

import pytest

from hcs_steps.memory import MemoryType, streams
from hcs_steps.memory.adapters import adapter_for


class FakeStream:
    def __init__(self, log, name, fail_sync=False):
        self.log, self.name, self.fail_sync = log, name, fail_sync

    def wait_stream(self, other):  # torch
        self.log.append(f"{self.name} waits for {other.name}")

    def wait_event(self, event):  # cupy
        self.log.append(f"{self.name} waits for {event}")

    def record(self):  # cupy: an event marking the work queued so far
        return f"event on {self.name}"

    def synchronize(self):
        self.log.append(f"synchronize {self.name}")
        if self.fail_sync:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def __enter__(self):  # cupy streams are their own context manager
        self.log.append(f"enter {self.name}")

    def __exit__(self, *exc):
        self.log.append(f"leave {self.name}")


def fake_cuda(memory_type, log, fail_sync=False):
    caller = FakeStream(log, "caller stream")

    def new_stream(**options):
        return FakeStream(log, "thread stream", fail_sync)

    @contextlib.contextmanager
    def use(stream):
        log.append(f"enter {stream.name}")
        yield
        log.append(f"leave {stream.name}")

    if memory_type is MemoryType.TORCH:
        cuda = types.SimpleNamespace(
            Stream=new_stream,
            device=lambda index: contextlib.nullcontext(),
            current_stream=lambda index: caller,
            stream=use,
        )
    else:
        cuda = types.SimpleNamespace(
            Stream=new_stream,
            Device=lambda index: contextlib.nullcontext(),
            get_current_stream=lambda: caller,
        )
    return types.SimpleNamespace(cuda=cuda)


@pytest.fixture(params=[MemoryType.TORCH, MemoryType.CUPY], ids=str)
def fake_library(request, monkeypatch):
    """(memory_type, log, install): the library's CUDA API replaced by a recorder."""
    log = []
    adapter = adapter_for(request.param)
    # Fresh per-thread streams, so no fake stream outlives the test.
    monkeypatch.setattr(streams, "_local", threading.local())

    def install(fail_sync=False):
        monkeypatch.setattr(adapter, "_lib", fake_cuda(request.param, log, fail_sync))

    install()
    return request.param, log, install


def test_the_thread_stream_waits_for_the_caller_then_is_synchronised(fake_library):
    memory_type, log, _ = fake_library
    with streams.thread_stream(memory_type, "cuda:0") as stream:
        log.append("work")
    assert stream.name == "thread stream"
    waits = log.index(next(entry for entry in log if entry.startswith("thread stream waits")))
    assert "caller stream" in log[waits]
    assert waits < log.index("enter thread stream") < log.index("work")
    assert log[log.index("work") :] == ["work", "leave thread stream", "synchronize thread stream"]


def test_the_thread_stream_is_synchronised_when_the_block_raises(fake_library):
    memory_type, log, _ = fake_library
    with pytest.raises(KeyError), streams.thread_stream(memory_type, "cuda:0"):
        log.append("work")
        raise KeyError("the function's own error")
    assert log[-1] == "synchronize thread stream"


def test_a_failed_synchronisation_does_not_hide_the_blocks_error(fake_library):
    memory_type, log, install = fake_library
    install(fail_sync=True)
    with pytest.raises(KeyError, match="the function's own error"):
        with streams.thread_stream(memory_type, "cuda:0"):
            raise KeyError("the function's own error")
    assert log[-1] == "synchronize thread stream"


def test_each_thread_and_device_gets_its_own_stream(fake_library):
    memory_type, _, _ = fake_library
    mine = streams.thread_stream_of(memory_type, "cuda:0")
    assert streams.thread_stream_of(memory_type, "cuda:0") is mine
    assert streams.thread_stream_of(memory_type, "cuda:1") is not mine
    seen = []
    worker = threading.Thread(
        target=lambda: seen.append(streams.thread_stream_of(memory_type, "cuda:0"))
    )
    worker.start()
    worker.join()
    assert seen and seen[0] is not mine
