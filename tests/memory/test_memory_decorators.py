"""The decorators: declarations, conversion to the declared type, 3D and output checks."""

import numpy as np
import pytest
from memory_support import host_copy, sample

import hcs_steps.memory as memory
from hcs_steps.memory import (
    MemoryConversionError,
    MemoryType,
    NoCudaDeviceError,
    convert,
    detect_memory_type,
    device_of,
    memory_types,
)
from hcs_steps.memory.adapters import adapter_for

DECORATORS = {t: getattr(memory, t.value) for t in MemoryType if t is not MemoryType.UNKNOWN}


def double(stack):
    return stack * 2


@memory.numpy
def pickled_double(stack):
    return stack * 2


@pytest.mark.parametrize("memory_type", list(DECORATORS), ids=str)
def test_bare_and_configured_decorators_declare_plain_attributes(memory_type):
    decorator = DECORATORS[memory_type]
    bare = decorator(double)
    assert bare.input_memory_type is memory_type
    assert bare.output_memory_type is memory_type
    assert bare.oom_recovery is (memory_type is not MemoryType.NUMPY)
    assert bare.requires_gpu is (memory_type is MemoryType.CUPY)
    assert bare.slice_by_slice is False
    assert bare.__wrapped__ is double
    assert bare.__name__ == "double"

    configured = decorator(input_type="numpy", oom_recovery=False, slice_by_slice=True)(double)
    assert configured.input_memory_type is MemoryType.NUMPY
    assert configured.output_memory_type is memory_type
    assert configured.oom_recovery is False
    assert configured.slice_by_slice is True


def test_memory_types_output_defaults_to_input():
    declared = memory_types(input_type="torch")(double)
    assert declared.input_memory_type is declared.output_memory_type is MemoryType.TORCH
    with pytest.raises(ValueError, match="unknown memory type 'tensorflo'"):
        memory_types(input_type="tensorflo")


def test_any_input_reaches_the_function_as_its_declared_type(memory_type, target_memory_type):
    seen = []

    @DECORATORS[target_memory_type]
    def record(stack, *, factor):
        seen.append((detect_memory_type(stack), device_of(stack)))
        return stack * factor

    original = sample(dtype=np.int32)
    result = record(convert(original, memory_type), factor=3)
    placement = adapter_for(target_memory_type).default_device()
    assert seen == [(target_memory_type, placement)]
    assert detect_memory_type(result) is target_memory_type
    assert device_of(result) == placement
    np.testing.assert_array_equal(host_copy(result), original * 3)


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 6, 5), (5,)], ids=lambda s: f"{len(s)}D")
def test_inputs_that_are_not_3d_are_rejected_with_name_and_shape(
    memory_type, target_memory_type, shape
):
    if memory_type is MemoryType.PYCLESPERANTO and len(shape) > 3:
        pytest.skip("pyclesperanto cannot hold more than 3 dimensions")
    decorated = DECORATORS[target_memory_type](double)
    flat = convert(np.zeros(shape, np.float32), memory_type)
    expected = rf"double: the input must be a 3D \[Z, Y, X\] stack; got shape {shape}".replace(
        "(", r"\("
    ).replace(")", r"\)")
    with pytest.raises(ValueError, match=expected):
        decorated(flat)


@pytest.mark.parametrize("shape", [(0, 6, 5), (2, 0, 5), (2, 6, 0)])
def test_empty_stacks_are_rejected_before_any_conversion(target_memory_type, shape):
    decorated = DECORATORS[target_memory_type](double)
    expected = rf"double: the input must be a 3D \[Z, Y, X\] stack; got shape \{shape}".replace(
        ")", r"\)"
    )
    with pytest.raises(ValueError, match=expected + r" \(an empty axis\)"):
        decorated(np.zeros(shape, np.float32))


def test_outputs_that_are_not_3d_are_rejected(memory_type):
    @DECORATORS[memory_type]
    def first_plane(stack):
        return stack[0]

    with pytest.raises(ValueError, match=r"first_plane: the output must be a 3D .* \(2D\)"):
        first_plane(convert(sample(), memory_type))


def test_empty_outputs_are_rejected_like_empty_inputs(memory_type):
    @DECORATORS[memory_type]
    def nothing_left(stack):
        return stack[:0]

    if memory_type is MemoryType.PYCLESPERANTO:
        pytest.skip("pyclesperanto cannot make an empty array to return")
    with pytest.raises(ValueError, match=r"nothing_left: the output .* \(an empty axis\)"):
        nothing_left(convert(sample(), memory_type))


def test_empty_arrays_are_refused_by_pyclesperanto_with_a_conversion_error():
    pytest.importorskip("pyclesperanto")
    with pytest.raises(MemoryConversionError, match=r"empty array \(shape \(0, 4, 4\)\)"):
        convert(np.zeros((0, 4, 4), np.float32), "pyclesperanto")


def test_conversion_errors_inside_a_call_name_the_function_and_the_input(target_memory_type):
    if target_memory_type is MemoryType.NUMPY:
        pytest.skip("numpy holds every dtype")
    decorated = DECORATORS[target_memory_type](double)
    refused = np.zeros((2, 3, 4), np.complex128)  # no other library holds it everywhere
    try:
        convert(refused, target_memory_type)
    except MemoryConversionError:
        pass
    else:
        pytest.skip(f"{target_memory_type.value} holds complex128")
    with pytest.raises(
        MemoryConversionError, match=r"the input of double: shape \(2, 3, 4\), dtype complex128"
    ):
        decorated(refused)


def test_tf_function_symbolic_tensors_are_refused_clearly():
    tf = pytest.importorskip("tensorflow")

    @memory.tensorflow
    def add_one(stack):
        return stack + 1

    with pytest.raises(TypeError, match="symbolic placeholder traced by tf.function"):
        tf.function(add_one)(tf.ones((1, 2, 2)))
    assert float(tf.reduce_sum(add_one(tf.ones((1, 2, 2))))) == 8.0


def test_jax_jit_tracers_are_refused_clearly():
    jax = pytest.importorskip("jax")

    @memory.jax
    def add_one(stack):
        return stack + 1

    with pytest.raises(TypeError, match="symbolic placeholder traced by jax.jit"):
        jax.jit(add_one)(jax.numpy.ones((1, 2, 2)))


@pytest.mark.parametrize("unknown", [[[[1.0]]], "stack", None])
def test_unknown_input_types_are_rejected(memory_type, unknown):
    with pytest.raises(TypeError, match="double: expected a .* stack of numpy, cupy"):
        DECORATORS[memory_type](double)(unknown)


def test_returning_another_library_is_an_error(memory_type):
    @memory_types(input_type=memory_type, output_type=memory_type)
    def leaks_numpy(stack):
        return np.zeros((1, 2, 2))

    if memory_type is MemoryType.NUMPY:
        assert leaks_numpy(sample()).shape == (1, 2, 2)
        return
    with pytest.raises(TypeError, match=f"declared to return {memory_type} but returned numpy"):
        leaks_numpy(convert(sample(), memory_type))


def test_special_outputs_pass_through_and_the_stack_is_checked(memory_type):
    @DECORATORS[memory_type]
    def count(stack):
        return stack, {"counts": int(stack.shape[0])}

    stack, special = count(convert(sample(), memory_type))
    assert special == {"counts": 4}
    assert detect_memory_type(stack) is memory_type

    @DECORATORS[memory_type]
    def flat_with_specials(stack):
        return stack[0], {"counts": 1}

    with pytest.raises(ValueError, match="the output must be a 3D"):
        flat_with_specials(convert(sample(), memory_type))


@pytest.mark.parametrize("bad", [lambda s: (s, s), lambda s: (s, {}, {}), lambda s: (s,)])
def test_malformed_tuples_are_rejected(bad):
    with pytest.raises(TypeError, match="must return a stack or \\(stack, special_outputs\\)"):
        memory.numpy(bad)(sample())


def test_mixed_declaration_converts_in_and_checks_out():
    pytest.importorskip("torch")

    @memory_types(input_type="numpy", output_type="torch")
    def to_tensor(stack):
        import torch

        assert isinstance(stack, np.ndarray)
        return torch.from_numpy(stack.copy())

    assert detect_memory_type(to_tensor(convert(sample(), "torch"))) is MemoryType.TORCH


def test_a_result_on_another_device_names_both_devices(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(adapter_for("torch"), "placement", lambda device: "cuda:0")

    @memory_types(input_type="numpy", output_type="torch")
    def stays_on_host(stack):
        import torch

        return torch.from_numpy(stack)

    with pytest.raises(RuntimeError, match="returned data on 'cpu', but its job runs on 'cuda:0'"):
        stays_on_host(sample())


def test_functions_that_require_a_gpu_refuse_the_cpu(memory_type):
    decorated = DECORATORS[memory_type](requires_gpu=True)(double)
    with memory.use_device("cpu"), pytest.raises(NoCudaDeviceError, match="requires a CUDA GPU"):
        decorated(convert(sample(), memory_type))


def test_cupy_without_a_gpu_says_no_cuda_device_is_available(monkeypatch):
    pytest.importorskip("cupy")
    monkeypatch.setenv("HCS_STEPS_DEVICE", "cuda:0")
    monkeypatch.setattr(adapter_for("cupy").lib(), "is_available", lambda: False)
    monkeypatch.setattr(adapter_for("cupy"), "_cuda_count", None)  # ask cupy again
    with pytest.raises(NoCudaDeviceError, match="no CUDA device is available"):
        memory.cupy(requires_gpu=False)(double)(sample())


def test_decorated_functions_see_the_job_device():
    pytest.importorskip("torch")
    seen = []

    @memory.torch
    def record(stack):
        seen.append(memory.resolve_device())
        return stack

    with memory.use_device("cpu"):
        record(sample())
    assert seen == ["cpu"]


def test_slice_by_slice_applies_a_2d_function_per_plane(memory_type):
    planes_seen = []

    @DECORATORS[memory_type](slice_by_slice=True)
    def plane_sum(plane, *, offset):
        planes_seen.append((detect_memory_type(plane), tuple(plane.shape)))
        return plane + offset, {"plane_total": float(host_copy(plane[None]).sum())}

    original = sample(dtype=np.float32)
    stack, special = plane_sum(convert(original, memory_type), offset=1)
    assert planes_seen == [(memory_type, (6, 5))] * 4
    assert detect_memory_type(stack) is memory_type
    np.testing.assert_array_equal(host_copy(stack), original + 1)
    assert special == {"plane_total": [float(p.sum()) for p in original]}


def test_slice_by_slice_rejects_planes_that_are_not_2d(memory_type):
    @DECORATORS[memory_type](slice_by_slice=True)
    def keeps_3d(plane):
        return convert(np.zeros((1, 6, 5), np.float32), memory_type)

    with pytest.raises(ValueError, match=r"must return a 2D \[Y, X\] plane; got shape \(1, 6, 5\)"):
        keeps_3d(convert(sample(), memory_type))


def test_decorated_functions_pickle_by_reference():
    import pickle

    restored = pickle.loads(pickle.dumps(pickled_double))
    assert restored is pickled_double
    np.testing.assert_array_equal(restored(sample()), sample() * 2)


def test_the_job_device_is_restored_when_the_function_raises(memory_type):
    @DECORATORS[memory_type](oom_recovery=False)
    def fails(stack):
        assert memory.resolve_device() == "cpu"
        raise KeyError("boom")

    with memory.use_device("cuda:3"):
        # numpy functions never look at the device; the others would try to place data
        # on cuda:3, so run them under cpu and check that cuda:3 comes back.
        with memory.use_device("cpu"), pytest.raises(KeyError):
            fails(convert(sample(), memory_type))
        assert memory.resolve_device() == "cuda:3"
