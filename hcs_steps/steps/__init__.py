"""The step library: image-processing steps by name, each in several memory types.

A config names a step (``"tophat"``) and its parameters; :func:`get_step` finds its
:class:`StepDefinition`, :func:`validate_parameters` checks the parameters before any job
runs, and :func:`choose_implementation` picks the implementation for the machine (a named
backend or ``"auto"``). Users add steps with :func:`register_step` in plugin modules that
:func:`load_plugins` imports.

Importing this package imports numpy (and pandas lazily) only; each implementation imports
its library when it runs.

Examples
--------
>>> import hcs_steps.steps as steps
>>> steps.get_step("gaussian").parameters["sigma"].default
1.0
"""

from hcs_steps.steps import catalog as _catalog  # noqa: F401  (registers the built-in steps)
from hcs_steps.steps.dispatch import choose_implementation, library_installed
from hcs_steps.steps.registry import (
    StepDefinition,
    UnknownStepError,
    get_step,
    list_steps,
    load_plugins,
    register_step,
    unregister_step,
    validate_parameters,
)

__all__ = [
    "StepDefinition",
    "UnknownStepError",
    "choose_implementation",
    "get_step",
    "library_installed",
    "list_steps",
    "load_plugins",
    "register_step",
    "unregister_step",
    "validate_parameters",
]
