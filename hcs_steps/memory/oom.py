"""Out-of-memory recovery: free caches and retry once, then split the stack along Z."""

from __future__ import annotations

import logging
import traceback

from .adapters import adapter_for
from .errors import OutOfMemoryError
from .types import validate_memory_type

logger = logging.getLogger(__name__)


def is_oom(exc: BaseException, adapters) -> bool:
    return any(adapter.is_oom(exc) for adapter in adapters)


def free_caches(adapters, exc: BaseException) -> None:
    """Free the caches of ``adapters`` after the out-of-memory error ``exc``.

    The error's traceback keeps the failed call's frames, and with them every array the
    call had allocated, alive; clearing those frames' locals first lets the memory go
    (the traceback still prints, without local values).
    """
    traceback.clear_frames(exc.__traceback__)
    for adapter in adapters:
        adapter.free_cache()


def call_with_oom_recovery(call, stack, adapters, name: str):
    """Return ``call(stack)``, recovering from out-of-memory errors of ``adapters``.

    On the first out-of-memory error the libraries' caches are freed and the call is
    retried once. If it fails again, the stack is split along Z into halves that are
    processed (and split further on failure) down to single planes, and the results are
    concatenated. That assumes the function treats planes independently and keeps one
    output plane per input plane; a function that does not, or that returns special
    outputs, gets an :class:`OutOfMemoryError` instead of a silently different result.

    Examples
    --------
    >>> import numpy as np
    >>> from hcs_steps.memory.adapters import adapter_for
    >>> def picky(stack):
    ...     if stack.shape[0] > 1:
    ...         raise MemoryError("Unable to allocate")
    ...     return stack + 1
    >>> call_with_oom_recovery(picky, np.zeros((3, 1, 1)), [adapter_for("numpy")], "picky")
    array([[[1.]],
    <BLANKLINE>
           [[1.]],
    <BLANKLINE>
           [[1.]]])
    """
    try:
        return call(stack)
    except Exception as exc:
        if not is_oom(exc, adapters):
            raise
        return recover_from_oom(call, stack, adapters, name, exc)


def recover_from_oom(call, stack, adapters, name: str, original: BaseException):
    """The recovery half of :func:`call_with_oom_recovery`, after ``original`` was raised."""
    free_caches(adapters, original)
    try:
        return call(stack)
    except Exception as exc:
        if not is_oom(exc, adapters):
            raise
        free_caches(adapters, exc)
    logger.warning(
        "%s ran out of memory on a stack of shape %s; splitting it along Z",
        name,
        tuple(stack.shape),
    )
    return _split_along_z(call, stack, adapters, name, original)


def _split_along_z(call, stack, adapters, name, original):
    depth = stack.shape[0]
    if depth <= 1:
        raise OutOfMemoryError(
            f"{name} ran out of memory even on a single Z plane (shape {tuple(stack.shape)})"
        ) from original
    middle = depth // 2
    parts = []
    for part in (stack[:middle], stack[middle:]):
        try:
            result = call(part)
        except Exception as exc:
            if not is_oom(exc, adapters):
                raise
            free_caches(adapters, exc)
            result = _split_along_z(call, part, adapters, name, original)
        if isinstance(result, tuple):
            raise OutOfMemoryError(
                f"{name} ran out of memory and returns special outputs, which cannot be "
                "merged across Z chunks; give it a smaller stack"
            ) from original
        if result.shape[0] != part.shape[0]:
            raise OutOfMemoryError(
                f"{name} ran out of memory, and splitting along Z would change its result: "
                f"it returned {result.shape[0]} planes for {part.shape[0]}"
            ) from original
        parts.append(result)
    return adapter_for(validate_memory_type(parts[0])).concatenate(parts)
