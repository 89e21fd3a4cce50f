"""cupy: CUDA only; DLPack and the CUDA Array Interface for device-to-device hand-over."""

from __future__ import annotations

import contextlib

from ..errors import NoCudaDeviceError
from .base import Adapter, parse_device


class CupyAdapter(Adapter):
    name = "cupy"
    array_modules = ("cupy",)
    array_class = ("cupy", "ndarray")
    module = "cupy"
    package = "cupy-cuda12x"
    extra = "cupy"
    host_capable = False
    cuda_capable = True
    gpu_capable = True
    streams = True
    auto_rank_gpu = 0  # CUDA-native
    cuda_install = "run on a machine with an NVIDIA GPU and a CUDA 12 driver"
    # cupy.cuda.memory.OutOfMemoryError is a MemoryError; the runtime's own error is not.
    oom_message_types = (("cupy_backends", "CUDARuntimeError"),)
    oom_markers = ("cudaErrorMemoryAllocation",)

    def placement(self, device):
        if parse_device(device)[0] != "cuda":
            raise NoCudaDeviceError(
                f"cupy arrays live on CUDA devices only, not on {device!r}; use another "
                "library's implementation on the CPU"
                + ("" if self.cuda_device_count() else " (no CUDA device is available to cupy)")
            )
        return super().placement(device)

    def default_device(self):
        from ..device import resolve_device

        return self.placement(resolve_device())

    def _count_cuda_devices(self):
        cupy = self.lib()
        return cupy.cuda.runtime.getDeviceCount() if cupy.is_available() else 0

    def device_of(self, x):
        return f"cuda:{x.device.id}"

    def _move(self, x, device):
        cupy = self.lib()
        with cupy.cuda.Device(parse_device(device)[1]):
            return cupy.asarray(x)

    def from_numpy(self, array, device):
        cupy = self.lib()
        with cupy.cuda.Device(parse_device(self.placement(device))[1]):
            return cupy.asarray(array)

    def to_numpy(self, x):
        return self.lib().asnumpy(x)

    def from_dlpack(self, x):
        cupy = self.lib()
        if hasattr(x, "__dlpack__"):
            return cupy.from_dlpack(x)
        # Older producers only speak the CUDA Array Interface; cupy.asarray shares it.
        return cupy.asarray(x)

    def unsupported_dtype(self, dtype):
        if dtype.kind == "V":  # ml_dtypes' bfloat16 and float8 types
            return f"cupy has no dtype {dtype.name}"
        return None

    def copy(self, x):
        return x.copy()

    def concatenate(self, parts):
        return self.lib().concatenate(parts, axis=0)

    def stack(self, planes):
        return self.lib().stack(planes, axis=0)

    def new_stream(self, index):
        cuda = self.lib().cuda
        with cuda.Device(index):
            return cuda.Stream(non_blocking=True)

    @contextlib.contextmanager
    def stream_scope(self, stream, index):
        cuda = self.lib().cuda
        with cuda.Device(index):
            stream.wait_event(cuda.get_current_stream().record())
            with stream:
                yield stream

    def free_cache(self):
        cupy = self.lib()
        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()
