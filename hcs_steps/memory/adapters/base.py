"""What every adapter offers, and the device-string helpers they share."""

from __future__ import annotations

import importlib
import os
import re

import numpy as np

from ..errors import MemoryConversionError, MissingLibraryError, NoCudaDeviceError
from ..types import MemoryType

#: The environment variable that names a job's device (read by ``resolve_device``).
DEVICE_ENV = "HCS_STEPS_DEVICE"

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


#: Every declared library's adapter class, in declaration order.
ADAPTER_CLASSES: dict[MemoryType, type[Adapter]] = {}


class Adapter:
    """One array library, seen through the few operations the memory layer needs.

    The adapter class is the one declaration of a library: subclassing with a ``name``
    declares the :class:`MemoryType` of that name, makes its arrays detectable (by
    ``array_modules`` and ``array_class``), convertible and usable by the decorators, and
    lets the step dispatcher rank it for ``backend: auto``. Subclasses set the class
    attributes and implement the methods that raise ``NotImplementedError`` here;
    everything reaches the library through :meth:`lib`, which imports it on first use.
    """

    #: The memory type's name (``"torch"``); set by each library's subclass.
    name: str
    #: Top-level modules that define the library's array classes.
    array_modules: tuple[str, ...] = ()
    #: The public array class, as (module, attribute): what an array is an instance of.
    array_class: tuple[str, str]
    #: The module :meth:`lib` imports, the pip package and hcs-steps extra that bring it.
    module: str
    package: str
    extra: str
    #: Set from ``name`` when the subclass is declared.
    memory_type: MemoryType
    #: Whether arrays of this library can live on the host / on a CUDA device, and whether
    #: it computes on a GPU at all (through CUDA or otherwise, e.g. OpenCL).
    host_capable = True
    cuda_capable = False
    gpu_capable = False
    #: How to get CUDA support, for the error that a CUDA device is unusable.
    cuda_install = ""
    #: Whether host buffers are shared with the other such libraries through DLPack.
    host_dlpack = False
    #: Whether the library may see or export DLPack capsules at all.
    dlpack = True
    #: Whether :meth:`placement` always gives the same device for the same job device
    #: (not for pyclesperanto, which follows its own current OpenCL device).
    fixed_placement = True
    #: Whether GPU calls run on a per-thread CUDA stream (see :meth:`new_stream`).
    streams = False
    #: Rank for ``backend: auto`` when a GPU is used / when not (lower first); None: never.
    auto_rank_gpu: int | None = None
    auto_rank_cpu: int | None = None
    #: Arrays never change once made (jax, tensorflow): writable libraries get copies.
    immutable = False
    #: Importing the module starts no thread and touches no device, so a process that
    #: imported it may fork: the local worker processes' fork server imports it for them.
    fork_safe_import = False
    #: The library's out-of-memory exception classes, as (top-level module, class name).
    oom_types: tuple[tuple[str, str], ...] = ()
    #: Its general exception classes whose message tells (``oom_markers``) whether they
    #: mean "out of memory": only these are read, so a user's ValueError never is.
    oom_message_types: tuple[tuple[str, str], ...] = ()
    oom_markers: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            cls.memory_type = MemoryType.declare(
                cls.name, array_modules=cls.array_modules, array_class=cls.array_class
            )
            ADAPTER_CLASSES[cls.memory_type] = cls

    def __init__(self):
        self._lib = None
        self._cuda_count = None

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
    def placement(self, device) -> str:
        """The device this library uses for a job that runs on ``device``.

        Raises ``ValueError`` for a device string it cannot parse, and
        :class:`NoCudaDeviceError` (also a ``ValueError``) for a CUDA device that this
        library cannot use here.
        """
        device = normalize_device(device)
        if is_cuda(device) and not self.can_use(device):
            raise self.unusable_cuda_device(device)
        return device

    def can_use(self, device: str) -> bool:
        """Whether this library can put arrays on the canonical CUDA ``device``."""
        return parse_device(device)[1] < self.cuda_device_count()

    def cuda_device_count(self) -> int:
        """How many CUDA devices this library sees; asked once per process."""
        if self._cuda_count is None:
            self._cuda_count = self._count_cuda_devices() if self.cuda_capable else 0
        return self._cuda_count

    def _count_cuda_devices(self) -> int:
        raise NotImplementedError

    def unusable_cuda_device(self, device: str) -> NoCudaDeviceError:
        name, count = self.memory_type.value, self.cuda_device_count()
        if count:
            problem = f"{name} sees {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            remedy = "to use a GPU, select one of those"
        else:
            problem = f"no CUDA device is available to {name}"
            remedy = f"to use a GPU, {self.cuda_install or 'run on a machine with a CUDA GPU'}"
        from_env = os.environ.get(DEVICE_ENV)
        if from_env:
            to_cpu = f"unset {DEVICE_ENV} (now {from_env!r}) or set it to 'cpu'"
        else:
            to_cpu = f"set {DEVICE_ENV}=cpu"
        return NoCudaDeviceError(
            f"{name} cannot use device {device!r}: {problem}. To run on the CPU, {to_cpu} "
            f"(in code: use_device('cpu') or device='cpu'); {remedy}"
        )

    def default_device(self) -> str:
        """Where a conversion to this library lands when no device is given."""
        return "cpu"

    def device_of(self, x) -> str:
        raise NotImplementedError

    def to_device(self, x, device):
        """``x`` on ``device``: ``x`` itself when it is there already, else a moved copy."""
        device = self.placement(device)
        if self.device_of(x) == device:
            return x
        return self._move(x, device)

    def _move(self, x, device: str):
        """Copy ``x`` to the canonical, usable ``device`` within this library."""
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

    def unsupported_shape(self, shape: tuple[int, ...]) -> str | None:
        """A reason why this library cannot hold an array of ``shape``, or None."""
        return None

    def check_shape(self, shape: tuple[int, ...], source: MemoryType) -> None:
        reason = self.unsupported_shape(shape)
        if reason is not None:
            raise MemoryConversionError(source, self.memory_type, "shape", reason)

    def exportable(self, x):
        """``x`` in a form whose buffer holds its values, for another library to share."""
        return x

    def copy(self, x):
        """An independent copy of ``x`` in this library, on its device."""
        raise NotImplementedError

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
    # -- CUDA streams (libraries with ``streams = True``) ------------------------------
    def new_stream(self, index: int):
        """A new non-default CUDA stream on GPU ``index``."""
        raise NotImplementedError

    def stream_scope(self, stream, index: int):
        """A context manager that makes ``stream`` current on GPU ``index`` for its block,
        after ``stream`` has waited for the work queued on the stream current before."""
        raise NotImplementedError

    def free_cache(self) -> None:
        """Give cached device memory back; called after an out-of-memory error."""

    def is_oom(self, exc: BaseException) -> bool:
        """Whether ``exc`` is this library's out-of-memory error (or a ``MemoryError``).

        Decided by the exception's class first; the message is read only for the general
        classes that the library also raises for other failures (``oom_message_types``).
        """
        if isinstance(exc, MemoryError):
            return True
        classes = {(k.__module__.partition(".")[0], k.__name__) for k in type(exc).__mro__}
        if classes.intersection(self.oom_types):
            return True
        if classes.intersection(self.oom_message_types):
            text = str(exc)
            return any(marker in text for marker in self.oom_markers)
        return False
