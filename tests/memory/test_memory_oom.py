"""OOM recovery, driven on the CPU by raising each library's real out-of-memory error."""

import weakref

import numpy as np
import pytest
from memory_support import host_copy, oom_error, sample

import hcs_steps.memory as memory
from hcs_steps.memory import MemoryType, OutOfMemoryError, convert, detect_memory_type
from hcs_steps.memory.adapters import adapter_for


@pytest.fixture
def freed(memory_type, monkeypatch):
    """Counts how often the library's caches are freed."""
    calls = []
    adapter = adapter_for(memory_type)
    original = adapter.free_cache
    monkeypatch.setattr(adapter, "free_cache", lambda: (calls.append(1), original()))
    return calls


def decorate(memory_type, func, **options):
    return getattr(memory, memory_type.value)(oom_recovery=True, **options)(func)


def test_each_library_recognises_its_own_oom_and_nothing_else(memory_type):
    adapter = adapter_for(memory_type)
    assert adapter.is_oom(oom_error(memory_type))
    assert adapter.is_oom(MemoryError("host allocation failed"))
    assert not adapter.is_oom(ValueError("operands could not be broadcast"))
    assert not adapter.is_oom(RuntimeError("Expected all tensors to be on the same device"))


def test_cupy_oom_is_recognised_without_a_gpu():
    cupy = pytest.importorskip("cupy")
    assert adapter_for("cupy").is_oom(cupy.cuda.memory.OutOfMemoryError(1 << 32, 1 << 30))


def test_freeing_caches_and_retrying_once_is_enough_for_a_transient_oom(memory_type, freed):
    calls = []

    def flaky(stack):
        calls.append(int(stack.shape[0]))
        if len(calls) == 1:
            raise oom_error(memory_type)
        return stack + 1

    result = decorate(memory_type, flaky)(convert(sample(), memory_type))
    assert calls == [4, 4]
    assert len(freed) == 1
    np.testing.assert_array_equal(host_copy(result), sample() + 1)


@pytest.mark.parametrize("depth,fits", [(8, 1), (7, 2), (5, 3)])
def test_persistent_oom_splits_along_z_down_to_what_fits(memory_type, freed, depth, fits):
    calls = []

    def needs_small_chunks(stack):
        calls.append(int(stack.shape[0]))
        if stack.shape[0] > fits:
            raise oom_error(memory_type)
        return stack * 2

    original = sample(shape=(depth, 3, 2))
    result = decorate(memory_type, needs_small_chunks)(convert(original, memory_type))
    assert detect_memory_type(result) is memory_type
    np.testing.assert_array_equal(host_copy(result), original * 2)
    processed = [z for z in calls if z <= fits]
    assert sum(processed) == depth
    assert calls[:2] == [depth, depth]
    assert freed


def test_oom_on_a_single_plane_reraises_with_the_original_chained(memory_type):
    error = oom_error(memory_type)

    def hopeless(stack):
        raise error

    with pytest.raises(OutOfMemoryError, match="even on a single Z plane") as caught:
        decorate(memory_type, hopeless)(convert(sample(), memory_type))
    assert caught.value.__cause__ is error


def test_other_errors_are_not_retried(memory_type):
    calls = []

    def broken(stack):
        calls.append(1)
        raise ValueError("a genuine bug")

    with pytest.raises(ValueError, match="a genuine bug"):
        decorate(memory_type, broken)(convert(sample(), memory_type))
    assert calls == [1]


@pytest.mark.parametrize(
    "message",
    ["can't allocate memory for label", "Out of memory in my queue", "RESOURCE_EXHAUSTED"],
)
def test_user_errors_that_mention_memory_are_not_taken_for_oom(memory_type, message):
    """Only a library's out-of-memory classes count; text is read only inside them."""
    calls = []

    def labels(stack):
        calls.append(1)
        raise ValueError(message)

    with pytest.raises(ValueError, match=message):
        decorate(memory_type, labels)(convert(sample(), memory_type))
    assert calls == [1]
    assert not adapter_for(memory_type).is_oom(KeyError("OutOfMemoryError"))


def test_torch_cpu_allocator_failures_are_oom():
    pytest.importorskip("torch")
    text = "[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory"
    assert adapter_for("torch").is_oom(RuntimeError(text))
    assert not adapter_for("torch").is_oom(ValueError(text))


def test_without_recovery_the_library_error_reaches_the_caller(memory_type):
    error = oom_error(memory_type)

    def hopeless(stack):
        raise error

    decorated = getattr(memory, memory_type.value)(oom_recovery=False)(hopeless)
    with pytest.raises(type(error)) as caught:
        decorated(convert(sample(), memory_type))
    assert caught.value is error


def test_functions_that_mix_planes_are_not_split_silently(memory_type):
    def first_plane_only(stack):
        if stack.shape[0] > 2:
            raise oom_error(memory_type)
        return stack[:1]

    with pytest.raises(OutOfMemoryError, match="splitting along Z would change its result"):
        decorate(memory_type, first_plane_only)(convert(sample(), memory_type))


def test_special_outputs_are_not_merged_across_chunks(memory_type):
    def counting(stack):
        if stack.shape[0] > 2:
            raise oom_error(memory_type)
        return stack, {"counts": int(stack.shape[0])}

    with pytest.raises(OutOfMemoryError, match="special outputs") as caught:
        decorate(memory_type, counting)(convert(sample(), memory_type))
    assert caught.value.__cause__ is not None


def test_numpy_functions_recover_from_host_memory_errors():
    def big(stack):
        if stack.shape[0] > 1:
            raise oom_error(MemoryType.NUMPY)
        return -stack

    result = memory.numpy(oom_recovery=True)(big)(sample())
    np.testing.assert_array_equal(result, -sample())


class Scratch:
    """Stands for the arrays a call allocated before it ran out of memory."""


def test_a_failed_call_releases_its_arrays_before_the_retry_and_the_split(memory_type):
    scratches, alive_at_call = [], []

    def hungry(stack):
        alive_at_call.append(sum(ref() is not None for ref in scratches))
        scratch = Scratch()
        scratches.append(weakref.ref(scratch))
        if stack.shape[0] > 1:
            raise oom_error(memory_type)  # the traceback holds this frame, and scratch
        return stack + 1

    result = decorate(memory_type, hungry)(convert(sample(shape=(2, 3, 2)), memory_type))
    np.testing.assert_array_equal(host_copy(result), sample(shape=(2, 3, 2)) + 1)
    assert len(alive_at_call) == 4  # first try, retry, then one call per plane
    assert alive_at_call == [0, 0, 0, 0]


def test_an_oom_in_the_zero_copy_route_is_not_hidden_by_a_copy(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    error = oom_error(MemoryType.JAX)

    def out_of_memory(x):
        raise error

    monkeypatch.setattr(adapter_for("jax"), "from_dlpack", out_of_memory)
    with pytest.raises(type(error)) as caught:
        convert(convert(sample(), "torch"), "jax")
    assert caught.value is error


def test_an_oom_between_gpus_is_not_reported_as_a_refused_route(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    for name in ("torch", "jax"):
        monkeypatch.setattr(adapter_for(name), "on_gpu", lambda device: True)
    error = oom_error(MemoryType.TORCH)

    def out_of_memory(x):
        raise error

    monkeypatch.setattr(adapter_for("jax"), "from_dlpack", out_of_memory)
    with pytest.raises(type(error)) as caught:
        convert(convert(sample(), "torch"), "jax", allow_cpu_roundtrip=True)
    assert caught.value is error
