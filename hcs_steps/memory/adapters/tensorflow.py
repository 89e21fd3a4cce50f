"""tensorflow: imported after pyclesperanto; only aligned host buffers are shared."""

from __future__ import annotations

import gc
import importlib.util
import sys

import numpy as np

from ...buffers import aligned_copy, is_aligned
from .base import Adapter, parse_device

_DLPACK_CUDA = 2  # DLDeviceType kDLCUDA


class TensorflowAdapter(Adapter):
    name = "tensorflow"
    array_modules = ("tensorflow",)
    array_class = ("tensorflow", "Tensor")
    module = "tensorflow"
    package = "tensorflow (or tensorflow-cpu)"
    extra = "tensorflow"
    cuda_capable = True
    gpu_capable = True
    host_dlpack = True
    auto_rank_gpu = 4  # the installed build may well be CPU-only
    auto_rank_cpu = 3
    immutable = True
    cuda_install = (
        "pip install 'tensorflow[and-cuda]' (tensorflow-cpu has no GPU support) "
        "on a machine with an NVIDIA GPU and driver"
    )
    oom_types = (("tensorflow", "ResourceExhaustedError"),)

    def _import(self):
        # tensorflow exports its LLVM symbols globally; pyclesperanto's OpenCL (pocl)
        # imported afterwards segfaults the process (tensorflow#119254). The other order works.
        if "tensorflow" not in sys.modules and importlib.util.find_spec("pyclesperanto"):
            try:
                # Through its adapter, which gives it an OpenCL device first.
                from . import adapter_for

                adapter_for("pyclesperanto").lib()
            except ImportError:  # no OpenCL device: pyclesperanto is unusable, tensorflow not
                pass
        return super()._import()

    def device_of(self, x):
        kind, _, index = x.device.rpartition("device:")[2].partition(":")
        return "cpu" if kind.upper() == "CPU" else f"cuda:{index or 0}"

    def _tf_device(self, device):
        kind, index = parse_device(device)
        return f"/{'CPU' if kind == 'cpu' else 'GPU'}:{0 if kind == 'cpu' else index}"

    def _count_cuda_devices(self):
        return len(self.lib().config.list_physical_devices("GPU"))

    def _move(self, x, device):
        tf = self.lib()
        with tf.device(self._tf_device(device)):
            return tf.identity(x)

    def dtype_of(self, x):
        return np.dtype(x.dtype.as_numpy_dtype)

    def from_numpy(self, array, device):
        tf = self.lib()
        with tf.device(self._tf_device(device)):
            if device == "cpu":
                # convert_to_tensor always copies an ndarray; the DLPack route shares it but
                # is safe only for aligned buffers (a TF op on an unaligned one aborts the
                # process), so anything else is first copied into an aligned buffer.
                if not _shareable(array):
                    array = aligned_copy(array)
                try:
                    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
                except BufferError:  # e.g. non-native byte order, which DLPack cannot express
                    return tf.convert_to_tensor(array)
            # convert_to_tensor builds host constants whatever the device scope; identity
            # is an op, so it runs (and leaves its result) on the scope's device.
            return tf.identity(tf.convert_to_tensor(array))

    def to_numpy(self, x):
        # np.asarray shares a CPU tensor's buffer (read-only); .numpy() would copy.
        if self.device_of(x) == "cpu":
            return np.asarray(x)
        return x.numpy()

    def from_dlpack(self, x):
        tf = self.lib()
        if x.__dlpack_device__()[0] == _DLPACK_CUDA:
            # Device allocations are always aligned, so TF's DLPack import is safe here.
            return tf.experimental.dlpack.from_dlpack(x.__dlpack__())
        # On the host, convert_to_tensor shares aligned buffers and copies the rest,
        # unlike tf.experimental.dlpack.from_dlpack, which accepts any alignment.
        return tf.convert_to_tensor(x)

    def concatenate(self, parts):
        return self.lib().concat(parts, axis=0)

    def stack(self, planes):
        return self.lib().stack(planes, axis=0)

    def free_cache(self):
        gc.collect()


def _shareable(array: np.ndarray) -> bool:
    # numpy refuses to export read-only arrays through DLPack.
    return array.flags.c_contiguous and array.flags.writeable and is_aligned(array)
