"""Pick which implementation of a step runs on the machine at hand.

The one place that decides: the workflow calls :func:`choose_implementation` once per step,
logs the result and writes it into the provenance.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec

from hcs_steps.memory import MemoryType, resolve_device
from hcs_steps.memory.adapters import adapter_classes, adapter_for
from hcs_steps.steps.registry import get_step


def auto_preference(gpu_available: bool) -> tuple[MemoryType, ...]:
    """The libraries ``backend: auto`` tries, in order, as each adapter ranks itself.

    With a GPU: the adapters' GPU ranks (CUDA-native libraries first, then OpenCL, then
    the libraries whose installed build may well be CPU-only), then the CPU order. Without:
    the CPU ranks, the numpy/scikit-image reference first; a library that needs a GPU
    (cupy) has no CPU rank.

    Examples
    --------
    >>> [t.value for t in auto_preference(False)]
    ['numpy', 'torch', 'jax', 'tensorflow', 'pyclesperanto']
    """
    classes = adapter_classes().values()

    def ranked(attribute):
        eligible = [c for c in classes if getattr(c, attribute) is not None]
        return tuple(c.memory_type for c in sorted(eligible, key=lambda c: getattr(c, attribute)))

    cpu = ranked("auto_rank_cpu")
    return ranked("auto_rank_gpu") + cpu if gpu_available else cpu


def library_installed(memory_type: MemoryType) -> bool:
    """Whether the library behind ``memory_type`` can be imported (without importing it).

    Examples
    --------
    >>> library_installed(MemoryType.NUMPY)
    True
    """
    return find_spec(adapter_for(memory_type).module) is not None


def choose_implementation(
    name: str, backend: str = "auto", *, gpu_available: bool | None = None
) -> tuple[MemoryType, Callable]:
    """Choose the implementation of step ``name`` to run here.

    Parameters
    ----------
    name : str
        A registered step.
    backend : str
        A memory type name (``"numpy"``, ``"torch"``, ...) to use that implementation, or
        ``"auto"`` for the best usable one: the first of :func:`auto_preference` whose
        library is installed.
    gpu_available : bool, optional
        Whether this job has a GPU; by default, whether
        :func:`hcs_steps.memory.resolve_device` names a CUDA device.

    Returns
    -------
    (MemoryType, callable)
        The chosen memory type (to log and record) and its decorated function.

    Raises
    ------
    ValueError
        An unknown backend, one the step lacks, one whose library is not installed, or
        ``auto`` with no usable implementation; the message lists what the step offers.

    Examples
    --------
    >>> import hcs_steps.steps
    >>> memory_type, function = choose_implementation("tophat", gpu_available=False)
    >>> memory_type.value, function.__name__
    ('numpy', 'tophat_numpy')
    >>> choose_implementation("tophat", "tensorflow")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: step 'tophat' has no 'tensorflow' implementation; it has numpy, ...
    """
    definition = get_step(name)
    offered = ", ".join(t.value for t in definition.implementations)
    if backend != "auto":
        try:
            memory_type = MemoryType(backend)
        except ValueError:
            accepted = ", ".join(t.value for t in adapter_classes())
            raise ValueError(
                f"step {name!r}: unknown backend {backend!r}; use 'auto' or one of {accepted}"
            ) from None
        if memory_type not in definition.implementations:
            raise ValueError(f"step {name!r} has no {backend!r} implementation; it has {offered}")
        if not library_installed(memory_type):
            raise ValueError(
                f"step {name!r}: backend {backend!r} needs the "
                f"{adapter_for(memory_type).module!r} package, which is not installed"
            )
        return memory_type, definition.implementations[memory_type]

    if gpu_available is None:
        gpu_available = resolve_device().startswith("cuda")
    for memory_type in auto_preference(gpu_available):
        if memory_type in definition.implementations and library_installed(memory_type):
            return memory_type, definition.implementations[memory_type]
    raise ValueError(
        f"step {name!r}: no implementation usable here (GPU: {gpu_available}); "
        f"it has {offered}; install one of those libraries"
    )
