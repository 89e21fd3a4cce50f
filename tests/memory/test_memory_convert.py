"""convert() over every ordered pair of libraries: values, dtype, sharing, awkward inputs."""

import numpy as np
import pytest
from memory_support import (
    IMMUTABLE_TYPES,
    WRITABLE_TYPES,
    ZERO_COPY_TYPES,
    data_pointer,
    host_copy,
    is_writable,
    sample,
    unaligned,
    write_first,
)

import hcs_steps.memory as memory
from hcs_steps.memory import (
    MemoryConversionError,
    MemoryType,
    convert,
    convert_memory,
    detect_memory_type,
    device_of,
)
from hcs_steps.memory.adapters import adapter_for

DTYPES = [
    np.bool_,
    np.int8,
    np.uint8,
    np.uint16,
    np.int32,
    np.uint32,
    np.int64,
    np.float16,
    np.float32,
    np.float64,
    np.complex64,
]


def expected_device(memory_type):
    return adapter_for(memory_type).default_device()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_values_dtype_library_and_device_survive_every_pair(memory_type, target_memory_type, dtype):
    for kind in (memory_type, target_memory_type):
        if adapter_for(kind).unsupported_dtype(np.dtype(dtype)):
            pytest.skip(f"{kind} refuses {np.dtype(dtype)} (tested below)")
    original = sample(dtype=dtype)
    source = convert(original, memory_type)
    result = convert(source, target_memory_type)
    assert detect_memory_type(result) is target_memory_type
    assert device_of(result) == expected_device(target_memory_type)
    back = host_copy(result)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, original)


def test_same_library_and_device_returns_the_input(memory_type):
    source = convert(sample(), memory_type)
    assert convert(source, memory_type) is source
    assert convert_memory(source, memory_type.value) is source


def test_aligned_host_arrays_are_shared_and_writes_are_visible(memory_type, target_memory_type):
    if memory_type is target_memory_type or not {memory_type, target_memory_type} <= (
        ZERO_COPY_TYPES
    ):
        pytest.skip("no zero-copy claim for this pair")
    if memory_type in IMMUTABLE_TYPES and target_memory_type in WRITABLE_TYPES - {"numpy"}:
        pytest.skip("copied on purpose: tested by test_immutable_arrays_never_get_writable_aliases")
    source = convert(sample(), memory_type)
    result = convert(source, target_memory_type)
    assert data_pointer(result) == data_pointer(source)
    writable, other = (source, result) if is_writable(source) else (result, source)
    if not is_writable(writable):
        return  # jax <-> tensorflow: both immutable, the shared pointer is the proof
    write_first(writable, 77)
    assert host_copy(other)[0, 0, 0] == 77


def test_immutable_arrays_never_get_writable_aliases(memory_type, target_memory_type):
    """A write through the converted array must not change a jax or tensorflow array."""
    if memory_type not in IMMUTABLE_TYPES:
        pytest.skip("the source library's arrays are mutable")
    source = convert(sample(), memory_type)
    doubled = source * 2  # computed by the library from the source
    result = convert(source, target_memory_type)
    if is_writable(result):
        write_first(result, 77)
    elif detect_memory_type(result) is MemoryType.NUMPY:
        with pytest.raises(ValueError, match="read-only"):
            write_first(result, 77)
    np.testing.assert_array_equal(host_copy(source), sample())
    np.testing.assert_array_equal(host_copy(doubled), sample() * 2)


def test_torch_add_in_place_leaves_a_jitted_jax_result_alone():
    jax = pytest.importorskip("jax")
    pytest.importorskip("torch")

    result = jax.jit(lambda x: x + 1)(convert(sample(), "jax"))
    convert(result, "torch").add_(5)
    np.testing.assert_array_equal(np.asarray(result), sample() + 1)


def test_read_only_memory_never_becomes_writable(target_memory_type):
    original = sample()
    original.flags.writeable = False
    result = convert(original, target_memory_type)
    np.testing.assert_array_equal(host_copy(result), original)
    if target_memory_type in WRITABLE_TYPES and data_pointer(result) == original.ctypes.data:
        assert target_memory_type is MemoryType.NUMPY and not result.flags.writeable


def test_read_only_memmaps_convert_without_exposing_the_file(target_memory_type, tmp_path):
    path = tmp_path / "stack.npy"
    np.save(path, sample())
    mapped = np.load(path, mmap_mode="r")
    result = convert(mapped, target_memory_type)
    np.testing.assert_array_equal(host_copy(result), sample())
    if is_writable(result):
        # A writable alias of a read-only mapping would segfault here.
        write_first(result, 99)
        assert np.load(path)[0, 0, 0] == sample()[0, 0, 0]


@pytest.mark.parametrize(
    "view",
    [
        pytest.param(lambda a: a[:, ::2, 1:], id="non-contiguous"),
        pytest.param(lambda a: a[::-1, :, ::-1], id="negative-strides"),
        pytest.param(unaligned, id="unaligned"),
        pytest.param(lambda a: np.asfortranarray(a), id="fortran-order"),
        pytest.param(lambda a: a.astype(a.dtype.newbyteorder("S")), id="swapped-byte-order"),
    ],
)
def test_awkward_layouts_convert_exactly(memory_type, target_memory_type, view):
    awkward = view(sample())
    result = convert(convert(awkward, memory_type), target_memory_type)
    np.testing.assert_array_equal(host_copy(result), awkward)


def test_tensorflow_never_receives_an_unaligned_buffer(memory_type):
    pytest.importorskip("tensorflow")
    tf = adapter_for("tensorflow").lib()
    source = convert(unaligned(sample()), memory_type)
    tensor = convert(source, "tensorflow")
    # A TF op on an unaligned buffer aborts the process; reaching the assert is the test.
    assert data_pointer(tensor) % 64 == 0
    assert float(tf.reduce_sum(tensor)) == float(sample().sum())


def test_jax_shares_aligned_and_copies_unaligned_numpy():
    pytest.importorskip("jax")
    aligned = sample()
    assert data_pointer(convert(aligned, "jax")) == aligned.ctypes.data
    offset = unaligned(aligned)
    shifted = convert(offset, "jax")
    assert data_pointer(shifted) != offset.ctypes.data
    np.testing.assert_array_equal(host_copy(shifted), aligned)


@pytest.mark.parametrize("unknown", [[1, 2, 3], "stack", 3.0, None, np.float32(1)])
def test_unknown_types_are_refused(unknown, target_memory_type):
    with pytest.raises(TypeError, match="expected an array of numpy"):
        convert(unknown, target_memory_type)


def test_unknown_target_name_is_refused():
    with pytest.raises(ValueError, match="unknown memory type 'numpie'"):
        convert(sample(), "numpie")


REFUSED = {
    MemoryType.JAX: [np.float64, np.int64, np.uint64, np.complex128],
    MemoryType.PYCLESPERANTO: [np.float64, np.int64, np.uint64, np.bool_, np.float16],
}


def test_dtype_changes_are_refused_with_the_dtype_named(memory_type, target_memory_type):
    refused = REFUSED.get(target_memory_type, [])
    if memory_type is target_memory_type or not refused:
        pytest.skip("the target holds every dtype the source can")
    if target_memory_type is MemoryType.JAX:
        import jax

        assert not jax.config.jax_enable_x64
    for dtype in refused:
        name = np.dtype(dtype).name
        if adapter_for(memory_type).unsupported_dtype(np.dtype(dtype)):
            continue  # the source cannot hold it either
        source = convert(sample(dtype=dtype), memory_type)
        with pytest.raises(MemoryConversionError, match=name) as caught:
            convert(source, target_memory_type)
        assert caught.value.method == "dtype"
        assert caught.value.target_type is target_memory_type


def test_jax_keeps_64_bit_dtypes_in_x64_mode():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    try:
        result = convert(sample(dtype=np.float64), "jax")
        assert result.dtype == np.float64
    finally:
        jax.config.update("jax_enable_x64", False)


def native_bfloat16(memory_type, values):
    """``values`` as a bfloat16 array made by the library itself (not by convert)."""
    import ml_dtypes

    if memory_type is MemoryType.NUMPY:
        return values.astype(ml_dtypes.bfloat16)
    if memory_type is MemoryType.TORCH:
        import torch

        return torch.from_numpy(values).to(torch.bfloat16)
    if memory_type is MemoryType.JAX:
        import jax.numpy as jnp

        return jnp.asarray(values, dtype=jnp.bfloat16)
    if memory_type is MemoryType.TENSORFLOW:
        import tensorflow as tf

        return tf.cast(tf.constant(values), tf.bfloat16)
    pytest.skip(f"{memory_type.value} has no bfloat16")


def test_bfloat16_converts_exactly_or_is_refused_with_one_error_type(
    memory_type, target_memory_type
):
    values = sample() - 50.5  # exactly representable in bfloat16, signs included
    source = native_bfloat16(memory_type, values)
    if target_memory_type in (MemoryType.PYCLESPERANTO, MemoryType.CUPY):
        with pytest.raises(MemoryConversionError, match="bfloat16"):
            convert(source, target_memory_type)
        return
    result = convert(source, target_memory_type)
    assert detect_memory_type(result) is target_memory_type
    assert "bfloat16" in str(result.dtype)
    back = convert(result, "numpy")
    assert back.dtype.name == "bfloat16"
    np.testing.assert_array_equal(back.astype(np.float32), values)


def torch_views():
    """Every kind of torch view: lazy negation and conjugation bits, strides, broadcasts."""
    import torch

    base = torch.arange(24.0).reshape(2, 3, 4) - 7
    complex_base = torch.complex(base, base + 0.5)
    views = {
        "negated (lazy neg bit)": base._neg_view(),
        "imaginary part of a conjugate (neg bit)": complex_base.conj().imag,
        "real part of a conjugate": complex_base.conj().real,
        "conjugate (lazy conj bit)": complex_base.conj(),
        "transposed": base.transpose(1, 2).contiguous().transpose(1, 2),
        "strided slice": torch.arange(48.0).reshape(2, 3, 8)[:, :, ::2],
        "broadcast (stride 0)": base[:1].expand(2, 3, 4),
        "requires grad": base.clone().requires_grad_(True),
    }
    assert list(views) == TORCH_VIEW_KINDS
    return views


TORCH_VIEW_KINDS = [
    "negated (lazy neg bit)",
    "imaginary part of a conjugate (neg bit)",
    "real part of a conjugate",
    "conjugate (lazy conj bit)",
    "transposed",
    "strided slice",
    "broadcast (stride 0)",
    "requires grad",
]


@pytest.mark.parametrize("view_name", TORCH_VIEW_KINDS)
def test_every_torch_view_kind_keeps_its_values_in_every_target(target_memory_type, view_name):
    pytest.importorskip("torch")
    view = torch_views()[view_name]
    expected = view.detach().resolve_conj().resolve_neg().numpy().copy()
    if adapter_for(target_memory_type).unsupported_dtype(expected.dtype):
        with pytest.raises(MemoryConversionError):
            convert(view, target_memory_type)
        return
    result = convert(view, target_memory_type)
    np.testing.assert_array_equal(host_copy(result), expected)
    assert host_copy(result).dtype == expected.dtype


def test_torch_sign_survives_the_conversion_to_jax():
    """The probe's case: DLPack without resolve_neg() gave 0, 1, 2 for -0, -1, -2."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("jax")
    negated = torch.arange(24.0).reshape(2, 3, 4)._neg_view()
    assert np.asarray(convert(negated, "jax"))[0, 0, 1] == -1.0
    z = torch.complex(torch.zeros(1, 1, 1), torch.full((1, 1, 1), 5.0))
    assert np.asarray(convert(z.conj().imag, "jax"))[0, 0, 0] == -5.0


def test_torch_tensors_that_require_grad_convert_on_the_host():
    torch = pytest.importorskip("torch")
    pytest.importorskip("jax")
    tensor = torch.ones((2, 2, 2), requires_grad=True)
    np.testing.assert_array_equal(host_copy(convert(tensor, "jax")), np.ones((2, 2, 2)))


def test_every_ordered_pair_has_a_named_function(memory_type, target_memory_type):
    if memory_type is target_memory_type:
        pytest.skip("same library")
    pair = getattr(memory, f"convert_{memory_type}_to_{target_memory_type}")
    assert pair.__name__ == f"convert_{memory_type}_to_{target_memory_type}"
    result = pair(convert(sample(), memory_type))
    assert detect_memory_type(result) is target_memory_type
    np.testing.assert_array_equal(host_copy(result), sample())


def test_pair_functions_check_their_source():
    with pytest.raises(TypeError, match="convert_torch_to_numpy expects a torch array; got numpy"):
        memory.convert_torch_to_numpy(sample())


def test_an_explicit_device_the_target_cannot_use_is_refused():
    with pytest.raises(ValueError, match="numpy arrays live on 'cpu' only"):
        convert(sample(), "numpy", device="cuda:0")


def pretend_gpu(monkeypatch, *names):
    """Make the adapters of ``names`` treat their (CPU) device as a GPU."""
    for name in names:
        monkeypatch.setattr(adapter_for(name), "on_gpu", lambda device: True)


def test_gpu_to_gpu_without_zero_copy_is_refused_unless_allowed(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    pretend_gpu(monkeypatch, "torch", "jax")
    calls = []

    def refuse(x):
        calls.append(x)
        raise BufferError("no shared device memory")

    monkeypatch.setattr(adapter_for("jax"), "from_dlpack", refuse)
    tensor = convert(sample(), "torch")
    with pytest.raises(MemoryConversionError, match="allow_cpu_roundtrip=True") as caught:
        memory.convert_torch_to_jax(tensor)
    assert (caught.value.method, caught.value.source_type) == ("dlpack", MemoryType.TORCH)
    assert isinstance(caught.value.__cause__, BufferError)
    assert len(calls) == 1
    result = memory.convert_torch_to_jax(tensor, allow_cpu_roundtrip=True)
    np.testing.assert_array_equal(host_copy(result), sample())


def test_gpu_to_gpu_through_dlpack_needs_no_permission(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    pretend_gpu(monkeypatch, "torch", "jax")
    tensor = convert(sample(), "torch")
    result = convert(tensor, "jax")
    assert data_pointer(result) == data_pointer(tensor)


def test_pyclesperanto_on_a_gpu_never_hands_over_without_permission(monkeypatch):
    pytest.importorskip("pyclesperanto")
    pytest.importorskip("torch")
    pretend_gpu(monkeypatch, "pyclesperanto", "torch")
    image = convert(sample(), "pyclesperanto")
    with pytest.raises(MemoryConversionError, match="share no device memory"):
        convert(image, "torch")
    tensor = convert(image, "torch", allow_cpu_roundtrip=True)
    np.testing.assert_array_equal(host_copy(tensor), sample())
