"""The job device: resolution order, thread-local use_device, device_of and to_device."""

import threading

import numpy as np
import pytest
from memory_support import sample

import hcs_steps.memory as memory
from hcs_steps.memory import (
    NoCudaDeviceError,
    convert,
    device_of,
    resolve_device,
    to_device,
    use_device,
)
from hcs_steps.memory import device as device_module
from hcs_steps.memory.adapters import adapter_for


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.delenv("HCS_STEPS_DEVICE", raising=False)
    monkeypatch.setattr(device_module, "cuda_available", lambda: False)


def test_resolution_order(monkeypatch, no_gpu):
    assert resolve_device() == "cpu"
    monkeypatch.setattr(device_module, "cuda_available", lambda: True)
    assert resolve_device() == "cuda:0"
    monkeypatch.setenv("HCS_STEPS_DEVICE", "cuda:2")
    assert resolve_device() == "cuda:2"
    with use_device("cuda:1"):
        assert resolve_device() == "cuda:1"
        assert resolve_device("cpu") == "cpu"
    assert resolve_device() == "cuda:2"


@pytest.mark.parametrize(
    "spelling,canonical", [("cuda", "cuda:0"), ("CUDA:3", "cuda:3"), (1, "cuda:1"), (" cpu", "cpu")]
)
def test_device_spellings(spelling, canonical):
    assert resolve_device(spelling) == canonical


@pytest.mark.parametrize("bad", ["gpu0", "cuda:x", "tpu", -1, ""])
def test_unsupported_devices_are_named(bad):
    with pytest.raises(ValueError, match="unsupported device"):
        resolve_device(bad)


def test_an_invalid_environment_device_is_an_error(monkeypatch):
    monkeypatch.setenv("HCS_STEPS_DEVICE", "gpu:0")
    with pytest.raises(ValueError, match="'gpu:0'"):
        resolve_device()


def test_use_device_is_thread_local(no_gpu):
    seen = {}
    entered, checked = threading.Event(), threading.Event()

    def other_thread():
        entered.wait(5)
        seen["other"] = resolve_device()
        checked.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with use_device("cuda:1"):
        entered.set()
        checked.wait(5)
        seen["main"] = resolve_device()
    worker.join()
    assert seen == {"main": "cuda:1", "other": "cpu"}


def test_cuda_is_not_reported_without_a_driver(monkeypatch):
    device_module.cuda_available.cache_clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    try:
        assert device_module.cuda_available() is False
    finally:
        device_module.cuda_available.cache_clear()


def test_device_of_and_to_device_on_the_host(memory_type):
    array = convert(sample(), memory_type)
    placement = adapter_for(memory_type).default_device()
    assert device_of(array) == placement
    assert to_device(array, placement) is array


@pytest.mark.parametrize("bad", ["tpu:0", "cuda:x"])
def test_to_device_names_an_unsupported_device(memory_type, bad):
    array = convert(sample(), memory_type)
    with pytest.raises(ValueError, match=bad):
        to_device(array, bad)


def test_numpy_cannot_move_to_a_gpu():
    with pytest.raises(ValueError, match="numpy arrays live on 'cpu' only"):
        to_device(np.zeros(3), "cuda:0")


def test_device_of_refuses_unknown_types():
    with pytest.raises(TypeError, match="expected an array"):
        device_of([1.0])


# What each CUDA-capable library's refusal must tell the user to install or do.
CUDA_LIBRARIES = {
    "torch": "CUDA build of torch",
    "jax": "jax[cuda12]",
    "tensorflow": "tensorflow[and-cuda]",
    "cupy": "NVIDIA GPU",
}


def without_cuda(monkeypatch, name, count=0):
    """Make library ``name`` see ``count`` CUDA devices, whatever this machine has."""
    pytest.importorskip(name)
    adapter = adapter_for(name)
    monkeypatch.setattr(adapter, "_cuda_count", count)
    return adapter


def assert_names_the_problem(caught, name, device):
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)  # to_device's contract for any bad device
    assert f"{name} cannot use device {device!r}" in message
    assert "use_device('cpu')" in message and "HCS_STEPS_DEVICE" in message
    return message


@pytest.mark.parametrize("name", list(CUDA_LIBRARIES))
@pytest.mark.parametrize("how", ["use_device", "environment"])
def test_a_cuda_device_the_library_cannot_use_is_refused_by_name(monkeypatch, name, how):
    without_cuda(monkeypatch, name)
    monkeypatch.delenv("HCS_STEPS_DEVICE", raising=False)
    decorated = getattr(memory, name)(requires_gpu=False)(lambda stack: stack)
    if how == "environment":
        monkeypatch.setenv("HCS_STEPS_DEVICE", "cuda:0")
        with pytest.raises(NoCudaDeviceError) as caught:
            decorated(sample())
        message = assert_names_the_problem(caught, name, "cuda:0")
        assert "unset HCS_STEPS_DEVICE (now 'cuda:0')" in message
    else:
        with use_device("cuda:0"), pytest.raises(NoCudaDeviceError) as caught:
            decorated(sample())
        message = assert_names_the_problem(caught, name, "cuda:0")
        assert "set HCS_STEPS_DEVICE=cpu" in message
    assert f"no CUDA device is available to {name}" in message
    assert CUDA_LIBRARIES[name] in message


@pytest.mark.parametrize("name", list(CUDA_LIBRARIES))
def test_convert_refuses_a_cuda_device_the_target_cannot_use(monkeypatch, name):
    without_cuda(monkeypatch, name)
    with pytest.raises(NoCudaDeviceError) as caught:
        convert(sample(), name, device="cuda:1")
    assert_names_the_problem(caught, name, "cuda:1")


@pytest.mark.parametrize("name", ["torch", "jax", "tensorflow"])
def test_to_device_refuses_a_cuda_device_the_library_cannot_use(monkeypatch, name):
    without_cuda(monkeypatch, name)
    array = convert(sample(), name)
    with pytest.raises(NoCudaDeviceError) as caught:
        to_device(array, "cuda:0")
    assert_names_the_problem(caught, name, "cuda:0")
    assert to_device(array, "cpu") is array


@pytest.mark.parametrize("name", list(CUDA_LIBRARIES))
def test_a_gpu_index_past_the_last_gpu_names_the_ones_there_are(monkeypatch, name):
    without_cuda(monkeypatch, name, count=2)
    with pytest.raises(NoCudaDeviceError) as caught:
        convert(sample(), name, device="cuda:2")
    message = assert_names_the_problem(caught, name, "cuda:2")
    assert "sees 2 CUDA device(s), cuda:0 to cuda:1" in message


def test_cupy_refuses_the_cpu_by_name(monkeypatch):
    without_cuda(monkeypatch, "cupy")
    with pytest.raises(
        NoCudaDeviceError, match="cupy arrays live on CUDA devices only, not on 'cpu'"
    ):
        convert(sample(), "cupy", device="cpu")


def test_a_gpu_array_reaches_a_target_without_cuda_on_the_host(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    torch_adapter = without_cuda(monkeypatch, "torch", count=1)
    without_cuda(monkeypatch, "jax")
    tensor = convert(sample(), "torch")
    monkeypatch.setattr(torch_adapter, "device_of", lambda x: "cuda:0")  # pretend
    result = convert(tensor, "jax")
    assert device_of(result) == "cpu"
    np.testing.assert_array_equal(np.asarray(result), sample())


@pytest.mark.parametrize("bad", ["tpu:0", "cuda:x", "gpu"])
def test_convert_names_an_unsupported_device(target_memory_type, bad):
    with pytest.raises(ValueError, match=repr(bad)):
        convert(sample(), target_memory_type, device=bad)
