"""The single conversion router: every route between two libraries is decided here."""

from __future__ import annotations

from .adapters import adapter_for
from .adapters.base import is_cuda
from .errors import MemoryConversionError
from .types import as_memory_type, validate_memory_type

# Which libraries share host buffers through DLPack is each adapter's ``host_dlpack``.
# numpy has none on purpose: torch.from_dlpack aborts on negative strides and hands out
# writable views of read-only memory, and TF's DLPack import ignores alignment; numpy data
# therefore goes through each adapter's from_numpy, which knows those rules. A library
# with ``dlpack = False`` (pyclesperanto) never sees or exports a DLPack capsule.

# The routes whose result may share the source's buffer.
_SHARING_METHODS = frozenset({"dlpack", "host dlpack"})

# What a failed zero-copy attempt raises: BufferError is the DLPack protocol's refusal;
# the libraries also use TypeError/ValueError (unsupported strides, dtype or device) and
# RuntimeError (torch: tensors that require grad; jax: device mismatch).
_ZERO_COPY_ERRORS = (BufferError, TypeError, ValueError, RuntimeError, NotImplementedError)


def convert(data, to, *, device=None, allow_cpu_roundtrip=False):
    """Convert ``data`` to the memory type ``to``, sharing memory wherever it is safe.

    Parameters
    ----------
    data : array
        An array of numpy, cupy, torch, tensorflow, jax or pyclesperanto.
    to : MemoryType or str
        The target library.
    device : str, optional
        ``"cpu"`` or ``"cuda:N"`` for the result. By default a GPU array stays on its GPU
        when the target can hold it there (a build of the target without CUDA gets it on
        the host), and anything else lands on the target's default device (the host;
        pyclesperanto's current device; cupy: the job's GPU).
    allow_cpu_roundtrip : bool
        Permit a GPU-to-GPU conversion that can only copy through host memory.

    Returns
    -------
    array
        ``data`` itself when it already has the target library and device; otherwise a
        view where the libraries can share the buffer, else a copy. The dtype is exact.

    Raises
    ------
    MemoryConversionError
        When the target cannot hold the dtype exactly, or a GPU-to-GPU conversion would
        need a host round trip that was not allowed.
    TypeError
        When ``data`` is not an array of a supported library.
    NoCudaDeviceError
        When ``device`` names a CUDA device the target cannot use here, or the target is
        cupy and no CUDA device is available; the message says how to run on the CPU.
    ValueError
        When ``device`` is not ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    MissingLibraryError
        When the target library is not installed (the message names the extra).

    Notes
    -----
    Host arrays are shared, not copied, between numpy, torch, jax and tensorflow when
    they are C-contiguous and 64-byte aligned (see :mod:`hcs_steps.buffers`): do not
    write to a buffer after handing it to jax or tensorflow, which assume it never
    changes. The other way round nothing can write to a jax or tensorflow array: numpy
    gets a read-only view, and torch and cupy, which have no read-only arrays, get a copy.
    torch's lazily negated or conjugated views are resolved first (DLPack cannot carry
    those bits). Read-only, negative-stride and unaligned inputs are copied where the
    target could not share them safely. pyclesperanto always copies (push/pull). A numpy
    array in non-native byte order arrives as the same values in native order; bfloat16
    and float8 travel as ml_dtypes' numpy types between numpy, torch, jax and tensorflow.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.arange(8, dtype=np.uint16).reshape(2, 2, 2)
    >>> convert(stack, "numpy") is stack
    True
    """
    source = validate_memory_type(data)
    target = as_memory_type(to)
    src, dst = adapter_for(source), adapter_for(target)
    src_device = src.device_of(data)
    if device is not None:
        dst_device = dst.placement(device)
    elif dst.cuda_capable and is_cuda(src_device) and dst.can_use(src_device):
        dst_device = src_device
    else:
        dst_device = dst.default_device()

    if source is target:
        return data if src_device == dst_device else src.to_device(data, dst_device)

    try:
        dtype = src.dtype_of(data)
    except TypeError as exc:
        raise MemoryConversionError(source, target, "dtype", str(exc)) from exc
    if not dtype.isnative:
        # Byte order is storage, not value, and only numpy can hold a non-native order:
        # hand the other libraries the same numbers in native order.
        data = data.astype(dtype.newbyteorder("="))
        dtype = data.dtype
    dst.check_dtype(dtype, source)
    dst.check_shape(tuple(int(n) for n in data.shape), source)
    data = src.exportable(data)

    src_gpu, dst_gpu = src.on_gpu(src_device), dst.on_gpu(dst_device)
    dlpack_ok = src.dlpack and dst.dlpack
    if src_gpu and dst_gpu:
        method = "dlpack"
        try:
            if not dlpack_ok:
                raise BufferError(f"{source.value} and {target.value} share no device memory")
            result = dst.to_device(dst.from_dlpack(data), dst_device)
        except _ZERO_COPY_ERRORS as exc:
            _reraise_oom(exc, src, dst)
            if not allow_cpu_roundtrip:
                raise MemoryConversionError(
                    source,
                    target,
                    method,
                    f"no zero-copy route from {src_device} to {dst_device} ({exc}); "
                    "pass allow_cpu_roundtrip=True to copy through host memory",
                ) from exc
            method = "host round trip"
            result = dst.from_numpy(src.to_numpy(data), dst_device)
    elif not src_gpu and not dst_gpu and src.host_dlpack and dst.host_dlpack:
        method = "host dlpack"
        try:
            result = dst.from_dlpack(data)
        except _ZERO_COPY_ERRORS as exc:
            # Non-contiguous or grad-tracking tensors cannot be exported; copying is fine
            # on the host.
            _reraise_oom(exc, src, dst)
            method = "host copy"
            result = dst.from_numpy(src.to_numpy(data), dst_device)
    else:
        method = "host"
        result = dst.from_numpy(src.to_numpy(data), dst_device)

    if src.immutable and not dst.immutable and method in _SHARING_METHODS:
        # A writable view of a jax or tensorflow buffer would let user code change an
        # array (and whatever jax or tensorflow computed from it) that promises never to.
        result = dst.copy(result)
    try:
        arrived = dst.dtype_of(result)
    except TypeError as exc:
        raise MemoryConversionError(source, target, method, str(exc)) from exc
    if arrived != dtype:
        raise MemoryConversionError(
            source, target, method, f"dtype changed from {dtype} to {arrived}"
        )
    return result


def _reraise_oom(exc, src, dst) -> None:
    # torch's and jax's out-of-memory errors are RuntimeErrors: they are not a refusal to
    # share, and copying instead would need more memory, so they reach OOM recovery.
    if src.is_oom(exc) or dst.is_oom(exc):
        raise exc


convert_memory = convert
