"""Parameter checks shared by the steps and by :func:`hcs_steps.steps.validate_parameters`.

A step's checks run twice: when the workflow validates a config (before any job starts) and
at the top of every implementation (so a direct call with a bad value fails the same way).
Every failure is a ``ValueError`` that names the step, the parameter, the value received and
what is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real


def parameter_error(step: str, name: str, value: object, accepted: str) -> ValueError:
    """Build the ``ValueError`` raised for a bad parameter value.

    Examples
    --------
    >>> str(parameter_error("tophat", "selem_radius", -1, "an integer >= 1"))
    "step 'tophat': parameter 'selem_radius' must be an integer >= 1, got -1"
    """
    return ValueError(f"step {step!r}: parameter {name!r} must be {accepted}, got {value!r}")


def check_number(
    step: str,
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    strict_minimum: bool = False,
) -> None:
    """Require a real number (an integer when ``integer``) inside ``[minimum, maximum]``.

    ``strict_minimum`` excludes the minimum itself. Booleans are refused: ``True`` is not a
    radius.

    Examples
    --------
    >>> check_number("gaussian", "sigma", 2.0, minimum=0, strict_minimum=True)
    >>> check_number("gaussian", "sigma", 0, minimum=0, strict_minimum=True)
    Traceback (most recent call last):
    ...
    ValueError: step 'gaussian': parameter 'sigma' must be a number > 0, got 0
    """
    kind = Integral if integer else Real
    noun = "an integer" if integer else "a number"
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if strict_minimum else '>='} {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    accepted = noun + (" " + " and ".join(bounds) if bounds else "")
    if isinstance(value, bool) or not isinstance(value, kind):
        raise parameter_error(step, name, value, accepted)
    if minimum is not None and (value <= minimum if strict_minimum else value < minimum):
        raise parameter_error(step, name, value, accepted)
    if maximum is not None and value > maximum:
        raise parameter_error(step, name, value, accepted)


def check_choice(step: str, name: str, value: object, choices: Iterable[str]) -> None:
    """Require ``value`` to be one of the plain strings in ``choices``.

    Examples
    --------
    >>> check_choice("segment_nuclei", "method", "watershed", ["threshold", "watershed"])
    >>> check_choice("segment_nuclei", "method", "magic", ["threshold", "watershed"])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: step 'segment_nuclei': parameter 'method' must be one of 'threshold', ...
    """
    choices = tuple(choices)
    if value not in choices:
        raise parameter_error(step, name, value, "one of " + ", ".join(map(repr, choices)))


def check_order(step: str, low_name: str, low: float, high_name: str, high: float) -> None:
    """Require ``low < high`` for a pair of parameters (percentiles, target range, sigmas).

    Examples
    --------
    >>> check_order("normalize", "low", 99, "high", 1)
    Traceback (most recent call last):
    ...
    ValueError: step 'normalize': parameter 'low' must be below high (1), got 99
    """
    if not low < high:
        raise parameter_error(step, low_name, low, f"below {high_name} ({high!r})")
