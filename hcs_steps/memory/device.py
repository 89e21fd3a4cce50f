"""Where a job's arrays live: one resolution order, and the two device functions."""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.util
import os
import sys
import threading

from .adapters import adapter_for
from .adapters.base import DEVICE_ENV, normalize_device
from .types import validate_memory_type

_local = threading.local()


def resolve_device(explicit=None) -> str:
    """Return the device a job's decorated calls run on.

    The first of: ``explicit``; the innermost :func:`use_device` of this thread; the
    ``HCS_STEPS_DEVICE`` environment variable; the first visible CUDA GPU; ``"cpu"``.

    Examples
    --------
    >>> resolve_device("cuda:1")
    'cuda:1'
    >>> with use_device("cpu"):
    ...     resolve_device()
    'cpu'
    """
    if explicit is not None:
        return normalize_device(explicit)
    device = getattr(_local, "device", None)
    if device is not None:
        return device
    from_env = os.environ.get(DEVICE_ENV)
    if from_env:
        return normalize_device(from_env)
    return "cuda:0" if cuda_available() else "cpu"


@contextlib.contextmanager
def use_device(device):
    """Run the decorated calls of this thread on ``device`` inside the ``with`` block.

    Examples
    --------
    >>> with use_device("cuda:0"):
    ...     resolve_device()
    'cuda:0'
    """
    previous = getattr(_local, "device", None)
    _local.device = normalize_device(device)
    try:
        yield _local.device
    finally:
        _local.device = previous


@functools.cache
def cuda_available() -> bool:
    """Whether a CUDA GPU is visible, asking the cheapest source first.

    No NVIDIA driver means no GPU, without importing anything; otherwise cupy (about
    0.2 ms) or torch answers. The answer is cached for the process.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    if not (os.path.exists("/proc/driver/nvidia/version") or glob.glob("/dev/nvidia[0-9]*")):
        return False
    for name, probe in (("cupy", _cupy_available), ("torch", _torch_available)):
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            try:
                return probe()
            except Exception:  # a broken CUDA install answers "no GPU", never crashes
                continue
    return False


def _cupy_available() -> bool:
    import cupy

    return bool(cupy.is_available())


def _torch_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def device_of(x) -> str:
    """The device ``x`` lives on: ``"cpu"``, ``"cuda:N"``, or pyclesperanto's device name.

    Examples
    --------
    >>> import numpy as np
    >>> device_of(np.zeros(3))
    'cpu'
    """
    return adapter_for(validate_memory_type(x)).device_of(x)


def to_device(x, device):
    """Move ``x`` to ``device`` within its own library; raise ``ValueError`` if unsupported.

    ``x`` itself comes back when it is on ``device`` already. A device string that is not
    ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` raises ``ValueError`` naming it; a CUDA device
    that the library cannot use here (no GPU, a CPU-only build, an index past the last
    GPU) raises :class:`~hcs_steps.memory.NoCudaDeviceError`, a ``ValueError`` that also
    names the library and how to run on the CPU instead.

    Examples
    --------
    >>> import numpy as np
    >>> to_device(np.zeros(3), "cpu").shape
    (3,)
    >>> to_device(np.zeros(3), "cuda:0")
    Traceback (most recent call last):
    ...
    ValueError: numpy arrays live on 'cpu' only, not on 'cuda:0'
    """
    return adapter_for(validate_memory_type(x)).to_device(x, device)
