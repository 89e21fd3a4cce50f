"""torch: host arrays through ``torch.from_numpy``, device arrays through DLPack/CAI."""

from __future__ import annotations

import numpy as np

from ..types import MemoryType
from .base import Adapter, is_cuda


class TorchAdapter(Adapter):
    memory_type = MemoryType.TORCH
    module = "torch"
    package = "torch"
    extra = "torch"
    cuda_capable = True
    cuda_install = (
        "install a CUDA build of torch (https://pytorch.org/get-started/locally/) "
        "on a machine with an NVIDIA GPU and driver"
    )
    oom_markers = ("OutOfMemoryError", "CUDA out of memory", "can't allocate memory")

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
        try:
            dtype = self.lib().empty(0, dtype=x.dtype).numpy().dtype
        except TypeError as exc:  # bfloat16 and friends have no numpy dtype
            raise TypeError(f"torch dtype {x.dtype} has no numpy equivalent") from exc
        self._numpy_dtypes[x.dtype] = dtype
        return dtype

    def from_numpy(self, array, device):
        # torch.from_numpy refuses negative strides and would hand out a writable alias of
        # read-only memory (a write to a read-only memmap segfaults): copy those instead.
        safe = (
            array.flags.writeable
            and array.flags.aligned
            and all(stride >= 0 for stride in array.strides)
        )
        tensor = self.lib().from_numpy(array if safe else np.array(array, order="C"))
        return tensor if device == "cpu" else tensor.to(device)

    def to_numpy(self, x):
        x = x.detach()
        if is_cuda(self.device_of(x)):
            x = x.cpu()
        return x.resolve_conj().resolve_neg().numpy()

    def from_dlpack(self, x):
        torch = self.lib()
        if hasattr(x, "__cuda_array_interface__") and not hasattr(x, "__dlpack__"):
            return torch.as_tensor(x)
        return torch.from_dlpack(x)

    def concatenate(self, parts):
        return self.lib().cat(parts, dim=0)

    def stack(self, planes):
        return self.lib().stack(planes, dim=0)

    def free_cache(self):
        torch = self.lib()
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()
