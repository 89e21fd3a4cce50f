"""What every adapter offers, and the device-string helpers they share."""

from __future__ import annotations

import importlib
import re

import numpy as np

from ..errors import MemoryConversionError, MissingLibraryError
from ..types import MemoryType

_DEVICE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


def parse_device(device) -> tuple[str, int]:
    """Split ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or an int GPU index) into (kind, index).

    Examples
    --------
    >>> parse_device("cuda:1"), parse_device("cpu"), parse_device(0)
    (('cuda', 1), ('cpu', 0), ('cuda', 0))
    """
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return "cuda", device
    match = _DEVICE.match(str(device).strip().lower())
    if match is None:
        raise ValueError(f"unsupported device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'")
    return match.group(1), int(match.group(2) or 0)


def normalize_device(device) -> str:
    """Return the canonical spelling of a device: ``"cpu"`` or ``"cuda:N"``."""
    kind, index = parse_device(device)
    return "cpu" if kind == "cpu" else f"cuda:{index}"


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


class Adapter:
    """One array library, seen through the few operations the memory layer needs.

    Subclasses set the class attributes and implement the methods that raise
    ``NotImplementedError`` here; everything reaches the library through :meth:`lib`,
    which imports it on first use.
    """

    memory_type: MemoryType
    module: str
    package: str
    extra: str
    #: True when arrays of this library can live on a CUDA device.
    cuda_capable = False
    #: Names in the library's exception types/messages that mean "out of memory".
    oom_markers: tuple[str, ...] = ()

    def __init__(self):
        self._lib = None

    def lib(self):
        if self._lib is None:
            self._lib = self._import()
        return self._lib

    def _import(self):
        try:
            return importlib.import_module(self.module)
        except ImportError as exc:
            raise MissingLibraryError(
                f"{self.memory_type.value} support needs the {self.package} package: "
                f"pip install 'hcs-steps[{self.extra}]'"
            ) from exc

    def available(self) -> bool:
        try:
            self.lib()
        except ImportError:
            return False
        return True

    # -- placement ---------------------------------------------------------------------
    def placement(self, device: str) -> str:
        """The device this library uses for a job that runs on ``device``."""
        return normalize_device(device)

    def default_device(self) -> str:
        """Where a conversion to this library lands when no device is given."""
        return "cpu"

    def device_of(self, x) -> str:
        raise NotImplementedError

    def to_device(self, x, device: str):
        raise NotImplementedError

    def on_gpu(self, device: str) -> bool:
        return is_cuda(device)

    # -- data --------------------------------------------------------------------------
    def dtype_of(self, x) -> np.dtype:
        return np.dtype(x.dtype)

    def unsupported_dtype(self, dtype: np.dtype) -> str | None:
        """A reason why this library cannot hold ``dtype`` exactly, or None."""
        return None

    def check_dtype(self, dtype: np.dtype, source: MemoryType) -> None:
        reason = self.unsupported_dtype(dtype)
        if reason is not None:
            raise MemoryConversionError(source, self.memory_type, "dtype", reason)

    def from_numpy(self, array: np.ndarray, device: str):
        """Wrap or copy a host array onto ``device``; share the buffer where it is safe."""
        raise NotImplementedError

    def to_numpy(self, x) -> np.ndarray:
        """A host view of ``x`` (zero-copy on the CPU where the library allows it)."""
        raise NotImplementedError

    def from_dlpack(self, x):
        """Zero-copy import of another library's array on the device it is on."""
        raise BufferError(f"{self.memory_type.value} cannot import arrays through DLPack")

    def concatenate(self, parts: list):
        """Join arrays of this library along axis 0."""
        raise NotImplementedError

    def stack(self, planes: list):
        """Stack 2D arrays of this library into a [Z, Y, X] array."""
        return self.concatenate([plane[None] for plane in planes])

    # -- memory pressure ---------------------------------------------------------------
    def free_cache(self) -> None:
        """Give cached device memory back; called after an out-of-memory error."""

    def is_oom(self, exc: BaseException) -> bool:
        """Whether ``exc`` is this library's out-of-memory error (type name or message)."""
        if isinstance(exc, MemoryError):
            return True
        names = " ".join(klass.__name__ for klass in type(exc).__mro__)
        text = f"{names} {exc}"
        return any(marker in text for marker in self.oom_markers)
