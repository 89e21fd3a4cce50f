"""CUDA paths: zero-copy device hand-over, refused host round trips, streams, real OOM.

Every test here is marked ``gpu`` and skipped where no CUDA device is usable; run them on
a CUDA machine as docs/gpu-validation.md describes.
"""

import threading

import numpy as np
import pytest
from memory_support import data_pointer, host_copy, sample

import hcs_steps.memory as memory
from hcs_steps.memory import MemoryConversionError, convert, detect_memory_type, device_of
from hcs_steps.memory.adapters import adapter_for

pytestmark = pytest.mark.gpu

CUDA_TYPES = ["cupy", "torch", "jax", "tensorflow"]


def cuda_ready(name):
    """Skip unless library ``name`` is installed with working CUDA support."""
    lib = pytest.importorskip(name)
    if name == "cupy" and not lib.is_available():
        pytest.skip("cupy sees no CUDA device")
    if name == "torch" and not lib.cuda.is_available():
        pytest.skip("this torch build has no CUDA")
    if name == "jax":
        try:
            lib.devices("cuda")
        except RuntimeError:
            pytest.skip("this jax build has no CUDA backend")
    if name == "tensorflow" and not lib.config.list_physical_devices("GPU"):
        pytest.skip("this tensorflow build sees no GPU")


def on_gpu(name, array=None):
    return convert(sample() if array is None else array, name, device="cuda:0")


def test_resolve_device_picks_the_first_gpu(monkeypatch):
    monkeypatch.delenv("HCS_STEPS_DEVICE", raising=False)
    assert memory.resolve_device() == "cuda:0"


@pytest.mark.parametrize("target", CUDA_TYPES)
@pytest.mark.parametrize("source", CUDA_TYPES)
def test_gpu_pairs_stay_on_the_device_and_share_memory(source, target):
    if source == target:
        pytest.skip("same library")
    cuda_ready(source)
    cuda_ready(target)
    original = sample()
    array = on_gpu(source, original)
    result = convert(array, target)
    assert detect_memory_type(result) == target
    assert device_of(result) == "cuda:0"
    np.testing.assert_array_equal(host_copy(result), original)
    if {source, target} == {"cupy", "torch"}:
        assert data_pointer(result) == data_pointer(array)


def test_cupy_and_torch_writes_are_visible_through_each_other():
    cuda_ready("cupy")
    cuda_ready("torch")
    array = on_gpu("cupy")
    tensor = convert(array, "torch")
    tensor[0, 0, 0] = 123
    assert float(array[0, 0, 0]) == 123


@pytest.mark.parametrize("name", CUDA_TYPES)
def test_host_to_gpu_and_back_is_always_allowed(name):
    cuda_ready(name)
    original = sample(dtype=np.uint16)
    array = on_gpu(name, original)
    assert device_of(array) == "cuda:0"
    back = convert(array, "numpy")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, original)


def test_gpu_to_gpu_through_the_host_needs_permission(monkeypatch):
    cuda_ready("cupy")
    cuda_ready("torch")
    array = on_gpu("cupy")

    def no_zero_copy(x):
        raise BufferError("no shared device memory")

    monkeypatch.setattr(adapter_for("torch"), "from_dlpack", no_zero_copy)
    with pytest.raises(MemoryConversionError, match="allow_cpu_roundtrip=True") as caught:
        memory.convert_cupy_to_torch(array)
    assert caught.value.method == "dlpack"
    tensor = memory.convert_cupy_to_torch(array, allow_cpu_roundtrip=True)
    assert device_of(tensor) == "cuda:0"
    np.testing.assert_array_equal(host_copy(tensor), sample())


def test_pyclesperanto_on_a_gpu_does_not_hand_over_to_cuda_silently():
    cle = pytest.importorskip("pyclesperanto")
    cuda_ready("cupy")
    cle_adapter = adapter_for("pyclesperanto")
    if not cle_adapter.on_gpu(cle.get_device().name):
        pytest.skip("pyclesperanto's device is not a GPU")
    with pytest.raises(MemoryConversionError, match="allow_cpu_roundtrip"):
        convert(convert(sample(), "pyclesperanto"), "cupy")


@pytest.mark.parametrize("name", ["cupy", "torch"])
def test_each_thread_runs_on_its_own_non_default_stream(name):
    cuda_ready(name)
    lib = adapter_for(name).lib()
    streams = {}
    # All threads stay alive together, so a finished thread's stream handle cannot be
    # reused by another and make two streams look like one.
    together = threading.Barrier(3)

    @getattr(memory, name)
    def record_stream(stack):
        together.wait(timeout=60)
        if name == "cupy":
            stream = lib.cuda.get_current_stream()
            assert stream.ptr != lib.cuda.Stream.null.ptr
            streams[threading.get_ident()] = stream.ptr
        else:
            stream = lib.cuda.current_stream()
            assert stream != lib.cuda.default_stream()
            streams[threading.get_ident()] = stream.cuda_stream
        return stack + 1

    def job():
        result = record_stream(sample())
        assert device_of(result) == "cuda:0"
        np.testing.assert_array_equal(host_copy(result), sample() + 1)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(streams.values())) == 3


def test_a_result_on_another_gpu_is_an_error():
    cuda_ready("torch")
    torch = adapter_for("torch").lib()
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")

    @memory.torch
    def wanders(stack):
        return stack.to("cuda:1")

    with memory.use_device("cuda:0"), pytest.raises(RuntimeError, match="'cuda:1'.*'cuda:0'"):
        wanders(sample())


@pytest.mark.parametrize("name", ["cupy", "torch"])
def test_real_out_of_memory_is_recovered_by_splitting_along_z(name):
    cuda_ready(name)
    lib = adapter_for(name).lib()
    adapter_for(name).free_cache()
    if name == "cupy":
        free = lib.cuda.Device(0).mem_info[0]
    else:
        free = lib.cuda.mem_get_info(0)[0]
    per_plane = int(free * 0.3)
    depths = []

    @getattr(memory, name)
    def hungry(stack):
        depths.append(int(stack.shape[0]))
        n = int(stack.shape[0]) * per_plane
        if name == "cupy":
            scratch = lib.empty(n, dtype=lib.uint8)
        else:
            scratch = lib.empty(n, dtype=lib.uint8, device=stack.device)
        del scratch
        return stack * 2

    original = sample(shape=(8, 16, 16))
    result = hungry(original)
    np.testing.assert_array_equal(host_copy(result), original * 2)
    assert depths[:2] == [8, 8]
    assert min(depths) < 8


@pytest.mark.parametrize("name", ["cupy", "torch"])
def test_the_function_sees_work_the_caller_queued_on_its_own_stream(name):
    cuda_ready(name)
    lib = adapter_for(name).lib()
    # Queue a long chain on the caller's (default) stream; the function's thread stream
    # must wait for it, or it reads the last result's memory before it is written.
    stack = convert(np.ones((16, 512, 512), np.float32), name, device="cuda:0")
    for _ in range(200):
        stack = stack * 1.001 + 0.0

    @getattr(memory, name)
    def copy(stack):
        return stack + 0

    result = copy(stack)
    if name == "cupy":
        lib.cuda.Device(0).synchronize()
    else:
        lib.cuda.synchronize()
    np.testing.assert_array_equal(host_copy(result), host_copy(stack))
