"""The step registry: a step name maps to its implementations, one per memory type.

Implementations are functions decorated with a memory decorator from
:mod:`hcs_steps.memory` (the decorator records ``input_memory_type`` on the function). They
join the registry through :func:`register_step`, either in :mod:`hcs_steps.steps.catalog` (the
built-in steps) or in a user's plugin module listed in the config and imported by
:func:`load_plugins`. A config names steps; names are only ever looked up here, never imported
or evaluated.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from hcs_steps.memory import MemoryType

ParameterCheck = Callable[[Mapping[str, object]], None]

_STEPS: dict[str, StepDefinition] = {}
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class UnknownStepError(KeyError, ValueError):
    """A step name that no built-in step or loaded plugin registered."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


@dataclass
class StepDefinition:
    """One registered step: its implementations and the parameters they all accept.

    Attributes
    ----------
    name : str
        The name a config uses.
    implementations : dict of MemoryType to callable
        One decorated function per memory type it runs in.
    parameters : dict of str to inspect.Parameter
        The keyword parameters (the signature without the stack), with defaults and
        annotations; every implementation has the same names.
    check : callable or None
        Value checks for a full parameter mapping (defaults filled in); raises ``ValueError``.
    keeps_shape : bool
        Whether the output stack has the input's shape. A step that changes it (a
        projection) must apply to every channel: a field's channels share one shape.
    workflow_inputs : tuple of str
        Keyword arguments the workflow supplies rather than the config: ``("channels",)``
        for a step that reads every channel of a field (``channels``: name to stack),
        ``("illumination",)`` for one that applies a plate-level estimate (the channel's
        flat and dark field). Not in :attr:`parameters`.
    """

    name: str
    implementations: dict[MemoryType, Callable] = field(default_factory=dict)
    parameters: dict[str, inspect.Parameter] = field(default_factory=dict)
    check: ParameterCheck | None = None
    keeps_shape: bool = True
    workflow_inputs: tuple[str, ...] = ()

    @property
    def reads_channels(self) -> bool:
        """Whether the step reads every channel of a field at once (``channels`` input)."""
        return "channels" in self.workflow_inputs

    @property
    def reads_illumination(self) -> bool:
        """Whether the step applies the plate's flat field (``illumination`` input), which a
        plate-level rule estimates before the step's segment runs."""
        return "illumination" in self.workflow_inputs

    @property
    def memory_types(self) -> list[MemoryType]:
        """The memory types this step is implemented in, in registration order."""
        return list(self.implementations)

    @property
    def doc(self) -> str:
        """The docstring of the numpy reference implementation, else of the first one."""
        reference = self.implementations.get(MemoryType.NUMPY)
        if reference is None:
            reference = next(iter(self.implementations.values()))
        return inspect.cleandoc(reference.__doc__ or "")

    @property
    def summary(self) -> str:
        """The first line of :attr:`doc`."""
        return self.doc.partition("\n")[0]

    def defaults(self) -> dict[str, object]:
        """Parameter name to default value, for the parameters that have one."""
        return {
            name: parameter.default
            for name, parameter in self.parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }


def _keyword_parameters(
    step: str, function: Callable, workflow_inputs: tuple[str, ...] = ()
) -> dict[str, inspect.Parameter]:
    """The signature of ``function`` minus its first (stack) parameter and the workflow's
    inputs."""
    target = inspect.unwrap(function)
    parameters = list(inspect.signature(target).parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(f"step {step!r}: {target.__qualname__} must take the stack first")
    missing = [name for name in workflow_inputs if name not in {p.name for p in parameters}]
    if missing:
        raise TypeError(f"step {step!r}: {target.__qualname__} lacks the input {missing[0]!r}")
    return {p.name: p for p in parameters[1:] if p.name not in workflow_inputs}


def register_step(
    name: str,
    *,
    check: ParameterCheck | None = None,
    keeps_shape: bool = True,
    workflow_inputs: tuple[str, ...] = (),
) -> Callable:
    """Register a memory-decorated function as the implementation of step ``name``.

    Stack it on top of a memory decorator; the function's ``input_memory_type`` says which
    implementation it is. All implementations of a step must take the same parameters.

    Parameters
    ----------
    name : str
        The step name configs will use.
    check : callable, optional
        ``check(params)`` raises ``ValueError`` for bad values (``params`` has the defaults
        filled in). Given once per step; later registrations may omit it.
    keeps_shape : bool
        False for a step whose output has another shape than its input (a Z projection);
        the config may then not restrict it to some channels.
    workflow_inputs : tuple of str, optional
        Keyword arguments the workflow passes (``("channels",)``: every channel of the
        field), left out of the step's config parameters.

    Returns
    -------
    callable
        A decorator that registers the function and returns it unchanged.

    Examples
    --------
    >>> from hcs_steps import memory
    >>> @register_step("doctest_invert")
    ... @memory.numpy
    ... def invert(stack, *, maximum=255):
    ...     '''Invert an 8-bit stack.'''
    ...     return maximum - stack
    >>> get_step("doctest_invert").memory_types
    [<MemoryType.NUMPY: 'numpy'>]
    >>> unregister_step("doctest_invert")
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a step name must be an identifier-like string, got {name!r}")

    def decorator(function: Callable) -> Callable:
        memory_type = getattr(function, "input_memory_type", None)
        if not isinstance(memory_type, MemoryType) or memory_type is MemoryType.UNKNOWN:
            raise TypeError(
                f"step {name!r}: {getattr(function, '__qualname__', function)!r} has no "
                "memory type; put @register_step above a decorator from hcs_steps.memory "
                "(numpy, cupy, torch, tensorflow, jax, pyclesperanto, memory_types)"
            )
        parameters = _keyword_parameters(name, function, tuple(workflow_inputs))
        definition = _STEPS.get(name)
        if definition is None:
            definition = _STEPS[name] = StepDefinition(
                name, parameters=parameters, workflow_inputs=tuple(workflow_inputs)
            )
        elif list(parameters) != list(definition.parameters):
            raise TypeError(
                f"step {name!r}: the {memory_type.value} implementation takes "
                f"{list(parameters)}, the others take {list(definition.parameters)}"
            )
        existing = definition.implementations.get(memory_type)
        if existing is not None and _qualified(existing) != _qualified(function):
            raise ValueError(
                f"step {name!r} already has a {memory_type.value} implementation: "
                f"{_qualified(existing)}"
            )
        definition.implementations[memory_type] = function
        if check is not None:
            definition.check = check
        if not keeps_shape:
            definition.keeps_shape = False
        return function

    return decorator


def _qualified(function: Callable) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def unregister_step(name: str) -> None:
    """Remove a step (used by tests and doctests that register throwaway steps).

    Examples
    --------
    >>> unregister_step("never_registered")
    Traceback (most recent call last):
    ...
    hcs_steps.steps.registry.UnknownStepError: unknown step 'never_registered'; known steps: ...
    """
    get_step(name)
    del _STEPS[name]


def get_step(name: str) -> StepDefinition:
    """The registered step called ``name``.

    Raises
    ------
    UnknownStepError
        (a ``KeyError`` and a ``ValueError``) naming the known steps.

    Examples
    --------
    >>> import hcs_steps.steps
    >>> sorted(t.value for t in get_step("max_projection").memory_types)
    ['cupy', 'jax', 'numpy', 'pyclesperanto', 'tensorflow', 'torch']
    """
    try:
        return _STEPS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_STEPS)) or "(none)"
        raise UnknownStepError(
            f"unknown step {name!r}; known steps: {known}. A user step joins the registry "
            "when its plugin module is listed under 'plugins' in the config"
        ) from None


def list_steps() -> list[StepDefinition]:
    """Every registered step, sorted by name.

    Examples
    --------
    >>> import hcs_steps.steps
    >>> "tophat" in [step.name for step in list_steps()]
    True
    """
    return [_STEPS[name] for name in sorted(_STEPS)]


def validate_parameters(name: str, params: Mapping[str, object]) -> dict[str, object]:
    """Check a config's parameters for step ``name`` before any job runs.

    Parameters
    ----------
    name : str
        A registered step.
    params : mapping
        Parameter names to values, as written in the config.

    Returns
    -------
    dict
        The full parameter set: the step's defaults updated with ``params``.

    Raises
    ------
    ValueError
        Naming the step and the parameter: an unknown name, a missing required value, or a
        value the step's checks refuse.

    Examples
    --------
    >>> import hcs_steps.steps
    >>> validate_parameters("gaussian", {"sigma": 2})
    {'sigma': 2}
    >>> validate_parameters("tophat", {"selem_radius": -3})
    Traceback (most recent call last):
    ...
    ValueError: step 'tophat': parameter 'selem_radius' must be an integer >= 1, got -3
    """
    definition = get_step(name)
    unknown = sorted(set(params) - set(definition.parameters))
    if unknown:
        raise ValueError(
            f"step {name!r}: unknown parameter {unknown[0]!r}; it accepts "
            f"{', '.join(definition.parameters) or 'no parameters'}"
        )
    full = {**definition.defaults(), **params}
    missing = [p for p in definition.parameters if p not in full]
    if missing:
        raise ValueError(f"step {name!r}: parameter {missing[0]!r} has no default; set it")
    if definition.check is not None:
        definition.check(full)
    return full


def load_plugins(module_names: Iterable[str]) -> list[str]:
    """Import the listed plugin modules so that the steps they register join the registry.

    Parameters
    ----------
    module_names : iterable of str
        Importable module names (``"mylab.steps"``), as listed under ``plugins`` in a config.

    Returns
    -------
    list of str
        The names of the steps that were new after loading, sorted.

    Raises
    ------
    ValueError
        For an entry that is not a dotted module name.
    ModuleNotFoundError
        For a module that cannot be found, naming the plugin.

    Examples
    --------
    >>> load_plugins(["json"])
    []
    >>> load_plugins(["os.system('true')"])
    Traceback (most recent call last):
    ...
    ValueError: plugin "os.system('true')" is not a module name like 'mylab.steps'
    """
    before = set(_STEPS)
    for module_name in module_names:
        if not isinstance(module_name, str) or not _MODULE_NAME.match(module_name):
            raise ValueError(f"plugin {module_name!r} is not a module name like 'mylab.steps'")
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                f"plugin module {module_name!r} cannot be imported: {error}", name=error.name
            ) from error
    return sorted(set(_STEPS) - before)
