"""numpy: the host reference every other library converts through."""

from __future__ import annotations

import numpy as np

from .base import Adapter, normalize_device


class NumpyAdapter(Adapter):
    name = "numpy"
    array_modules = ("numpy",)
    array_class = ("numpy", "ndarray")
    auto_rank_cpu = 0  # the scikit-image reference, first without a GPU
    module = "numpy"
    fork_safe_import = True
    package = "numpy"
    extra = "all"
    # numpy's allocation failures are MemoryErrors: nothing more to recognise.

    def lib(self):
        return np

    def placement(self, device: str) -> str:
        if normalize_device(device) != "cpu":
            raise ValueError(f"numpy arrays live on 'cpu' only, not on {device!r}")
        return "cpu"

    def device_of(self, x) -> str:
        return "cpu"

    def from_numpy(self, array, device):
        return array

    def to_numpy(self, x):
        return x

    def concatenate(self, parts):
        return np.concatenate(parts, axis=0)

    def stack(self, planes):
        return np.stack(planes, axis=0)
