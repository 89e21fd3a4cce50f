"""jax: shares host memory only when it is 64-byte aligned; 64-bit dtypes need x64 mode."""

from __future__ import annotations

import gc

import numpy as np

from ...buffers import aligned_copy, is_aligned
from .base import Adapter, parse_device


class JaxAdapter(Adapter):
    name = "jax"
    # jax's array classes live in its compiled helper package too.
    array_modules = ("jax", "jaxlib")
    array_class = ("jax", "Array")
    module = "jax"
    package = "jax"
    extra = "jax"
    cuda_capable = True
    gpu_capable = True
    host_dlpack = True
    auto_rank_gpu = 3  # after OpenCL: the installed build may well be CPU-only
    auto_rank_cpu = 2
    immutable = True
    cuda_install = "pip install 'jax[cuda12]' on a machine with an NVIDIA GPU and driver"
    oom_message_types = (
        ("jax", "JaxRuntimeError"),
        ("jaxlib", "JaxRuntimeError"),
        ("jaxlib", "XlaRuntimeError"),
    )
    oom_markers = ("RESOURCE_EXHAUSTED",)

    def _count_cuda_devices(self):
        try:
            return len(self.lib().devices("cuda"))
        except RuntimeError:  # "Unknown backend": a CPU-only jaxlib
            return 0

    def _device(self, device):
        # The device was checked by placement(), so it exists.
        kind, index = parse_device(device)
        return self.lib().devices("cpu" if kind == "cpu" else "cuda")[index]

    def device_of(self, x):
        (device,) = x.devices()
        return "cpu" if device.platform == "cpu" else f"cuda:{device.id}"

    def _move(self, x, device):
        return self.lib().device_put(x, self._device(device))

    def unsupported_dtype(self, dtype):
        if dtype.itemsize == 8 * (2 if dtype.kind == "c" else 1) and dtype.kind in "iufc":
            if not self.lib().config.jax_enable_x64:
                return (
                    f"jax would silently turn {dtype} into a 32-bit type; enable "
                    "jax.config.update('jax_enable_x64', True) or cast explicitly first"
                )
        return None

    def from_numpy(self, array, device):
        # device_put aliases a C-contiguous, 64-byte aligned host buffer and copies
        # anything else at 3-5x memcpy time; one aligned memcpy that it can share is faster.
        if not (array.flags.c_contiguous and is_aligned(array)):
            array = aligned_copy(array)
        return self.lib().device_put(array, self._device(device))

    def to_numpy(self, x):
        # On the CPU this is a read-only view of jax's buffer; from a GPU it copies.
        return np.asarray(x)

    def from_dlpack(self, x):
        return self.lib().dlpack.from_dlpack(x)

    def concatenate(self, parts):
        return self.lib().numpy.concatenate(parts, axis=0)

    def stack(self, planes):
        return self.lib().numpy.stack(planes, axis=0)

    def free_cache(self):
        # jax releases device buffers when their Python arrays die; its compilation
        # caches hold no array memory, so a collection is the useful step.
        gc.collect()
