"""pyclesperanto: OpenCL buffers reachable only through push and pull."""

from __future__ import annotations

import gc
import sys

import numpy as np

from ..errors import NoOpenCLDeviceError
from .base import Adapter, normalize_device
from .opencl_icd import missing_device_advice, use_bundled_pocl_if_no_driver

# The dtypes pyclesperanto stores as they are; it silently wraps int64 to int32 and
# turns anything else into float32.
SUPPORTED_DTYPES = frozenset(
    np.dtype(name) for name in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32")
)


class PyclesperantoAdapter(Adapter):
    name = "pyclesperanto"
    # Its array class lives in the compiled package of the backend in use.
    array_modules = (
        "pyclesperanto",
        "pyclesperanto_opencl",
        "pyclesperanto_cuda",
        "pyclesperanto_metal",
    )
    array_class = ("pyclesperanto", "Array")
    # It reports an OpenCL device that torch segfaults on: no DLPack either way.
    dlpack = False
    gpu_capable = True  # through OpenCL
    fixed_placement = False
    auto_rank_gpu = 2  # OpenCL, after the CUDA-native libraries
    auto_rank_cpu = 4
    module = "pyclesperanto"
    package = "pyclesperanto"
    extra = "cle"
    # pyclesperanto reports OpenCL failures as RuntimeErrors naming the OpenCL status.
    oom_message_types = (("builtins", "RuntimeError"),)
    oom_markers = (
        "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        "CL_OUT_OF_RESOURCES",
        "CL_OUT_OF_HOST_MEMORY",
    )

    def _import(self):
        if "tensorflow" in sys.modules and "pyclesperanto" not in sys.modules:
            # Importing pyclesperanto after tensorflow segfaults (tensorflow#119254);
            # an error the user can act on beats a dead process.
            raise ImportError(
                "pyclesperanto must be imported before tensorflow (tensorflow#119254): "
                "import pyclesperanto at the top of your program"
            )
        # The loader reads OCL_ICD_VENDORS once, when pyclesperanto first loads OpenCL.
        if "pyclesperanto" not in sys.modules:
            use_bundled_pocl_if_no_driver()
        cle = super()._import()
        # Without a usable OpenCL device pyclesperanto imports with only a warning and
        # lacks its device API: say so here instead of an AttributeError later.
        if not hasattr(cle, "get_device"):
            raise NoOpenCLDeviceError(missing_device_advice())
        return cle

    # pyclesperanto keeps one current OpenCL device; jobs use it whatever their CUDA slot.
    def placement(self, device):
        current = self.lib().get_device().name
        if device != current:
            normalize_device(device)  # "cpu" and "cuda:N" are fine; nonsense is refused
        return current

    def default_device(self):
        return self.lib().get_device().name

    def device_of(self, x):
        return x.device.name

    def on_gpu(self, device):
        current = self.lib().get_device()
        return current.name == device and _device_type(current) == "GPU"

    def to_device(self, x, device):
        if self.device_of(x) == device:
            return x
        raise ValueError(
            f"pyclesperanto array is on {self.device_of(x)!r}; moving it to {device!r} is "
            "not supported (select the device with pyclesperanto.select_device first)"
        )

    def unsupported_dtype(self, dtype):
        if dtype in SUPPORTED_DTYPES:
            return None
        accepted = ", ".join(sorted(d.name for d in SUPPORTED_DTYPES))
        return f"pyclesperanto cannot hold {dtype} exactly (it holds {accepted})"

    def unsupported_shape(self, shape):
        if 0 in shape:
            return f"pyclesperanto cannot hold an empty array (shape {shape})"
        return None

    def from_numpy(self, array, device):
        return self.lib().push(np.ascontiguousarray(array))

    def to_numpy(self, x):
        return self.lib().pull(x)

    def concatenate(self, parts):
        return self.from_numpy(np.concatenate([self.to_numpy(p) for p in parts]), None)

    def stack(self, planes):
        return self.from_numpy(np.stack([self.to_numpy(p) for p in planes]), None)

    def free_cache(self):
        gc.collect()


def _device_type(device) -> str:
    for line in device.info.splitlines():
        if "Device Type:" in line:
            return line.split(":", 1)[1].strip().upper()
    return ""
