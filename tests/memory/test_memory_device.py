"""The job device: resolution order, thread-local use_device, device_of and to_device."""

import threading

import numpy as np
import pytest
from memory_support import sample

from hcs_steps.memory import convert, device_of, resolve_device, to_device, use_device
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
