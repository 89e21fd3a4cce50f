"""torch: host arrays through ``torch.from_numpy``, device arrays through DLPack/CAI."""

from __future__ import annotations

import contextlib

import numpy as np

from .base import Adapter, is_cuda

# torch dtypes without a numpy dtype of their own, and the ml_dtypes type (the numpy
# extension types that jax and tensorflow use) holding the same bits.
_ML_DTYPES = {
    "bfloat16": "bfloat16",
    "float8_e4m3fn": "float8_e4m3fn",
    "float8_e4m3fnuz": "float8_e4m3fnuz",
    "float8_e5m2": "float8_e5m2",
    "float8_e5m2fnuz": "float8_e5m2fnuz",
}


def _ml_dtype(name: str) -> np.dtype:
    import ml_dtypes  # installed with jax and tensorflow; only asked for these dtypes

    return np.dtype(getattr(ml_dtypes, name))


class TorchAdapter(Adapter):
    name = "torch"
    array_modules = ("torch",)
    array_class = ("torch", "Tensor")
    module = "torch"
    fork_safe_import = True
    package = "torch"
    extra = "torch"
    cuda_capable = True
    gpu_capable = True
    host_dlpack = True
    streams = True
    auto_rank_gpu = 1  # CUDA-native
    auto_rank_cpu = 1
    cuda_install = (
        "install a CUDA build of torch (https://pytorch.org/get-started/locally/) "
        "on a machine with an NVIDIA GPU and driver"
    )
    oom_types = (("torch", "OutOfMemoryError"),)
    # The CPU allocator and older CUDA builds raise plain RuntimeErrors.
    oom_message_types = (("builtins", "RuntimeError"),)
    oom_markers = (
        "CUDA out of memory",
        "CUDA error: out of memory",
        "DefaultCPUAllocator: can't allocate memory",
    )

    def __init__(self):
        super().__init__()
        self._numpy_dtypes = {}

    def device_of(self, x) -> str:
        if x.is_cpu:  # a plain attribute; building x.device costs more on every call
            return "cpu"
        device = x.device
        return f"{device.type}:{device.index or 0}"

    def _count_cuda_devices(self):
        cuda = self.lib().cuda
        return cuda.device_count() if cuda.is_available() else 0

    def _move(self, x, device):
        return x.to(device)

    def dtype_of(self, x):
        try:
            return self._numpy_dtypes[x.dtype]
        except KeyError:
            pass
        name = _ML_DTYPES.get(str(x.dtype).removeprefix("torch."))
        try:
            if name is not None:
                dtype = _ml_dtype(name)
            else:
                dtype = self.lib().empty(0, dtype=x.dtype).numpy().dtype
        except (TypeError, ImportError) as exc:
            raise TypeError(f"torch dtype {x.dtype} has no numpy equivalent") from exc
        self._numpy_dtypes[x.dtype] = dtype
        return dtype

    def unsupported_dtype(self, dtype):
        if dtype.kind == "V" and dtype.name not in _ML_DTYPES.values():
            return f"torch has no dtype {dtype.name}"
        return None

    def exportable(self, x):
        # torch marks negated and conjugated views with lazy bits that DLPack does not
        # carry: exported as they are, -x would arrive as x. Resolve them (a copy only then).
        return x.resolve_conj().resolve_neg()

    def from_numpy(self, array, device):
        torch = self.lib()
        # torch.from_numpy refuses negative strides and would hand out a writable alias of
        # read-only memory (a write to a read-only memmap segfaults): copy those instead.
        safe = (
            array.flags.writeable
            and array.flags.aligned
            and all(stride >= 0 for stride in array.strides)
        )
        if not safe:
            array = np.array(array, order="C")
        if array.dtype.name in _ML_DTYPES.values():
            # ml_dtypes' bfloat16/float8 have no torch.from_numpy route: same bits, viewed.
            bits = np.dtype(f"uint{8 * array.dtype.itemsize}")
            tensor = torch.from_numpy(array.view(bits)).view(getattr(torch, array.dtype.name))
        else:
            tensor = torch.from_numpy(array)
        return tensor if device == "cpu" else tensor.to(device)

    def to_numpy(self, x):
        x = x.detach()
        if is_cuda(self.device_of(x)):
            x = x.cpu()
        x = self.exportable(x)
        dtype = self.dtype_of(x)
        if dtype.name in _ML_DTYPES.values():
            bits = getattr(self.lib(), f"uint{8 * dtype.itemsize}")
            return x.view(bits).numpy().view(dtype)
        return x.numpy()

    def from_dlpack(self, x):
        torch = self.lib()
        if hasattr(x, "__cuda_array_interface__") and not hasattr(x, "__dlpack__"):
            return torch.as_tensor(x)
        return torch.from_dlpack(x)

    def copy(self, x):
        return x.clone()

    def concatenate(self, parts):
        return self.lib().cat(parts, dim=0)

    def stack(self, planes):
        return self.lib().stack(planes, dim=0)

    def new_stream(self, index):
        return self.lib().cuda.Stream(device=index)

    @contextlib.contextmanager
    def stream_scope(self, stream, index):
        cuda = self.lib().cuda
        with cuda.device(index):
            stream.wait_stream(cuda.current_stream(index))
            with cuda.stream(stream):
                yield stream

    def free_cache(self):
        torch = self.lib()
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()
