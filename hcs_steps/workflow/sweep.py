"""Parameter sweeps: the combinations of a config's ``sweep`` block and where their results live.

A step's result depends only on its own parameters and those of the steps before it. So
each segment's result is addressed by a *chain digest*: a hash of every step (name, step,
parameters, memory type, channels) of that segment and of the segments before it.
Combinations with the same digest at a segment share one result per well; a digest equal
to the plain pipeline's is the plain run's result under ``results/<plate>/steps/``, and
every other digest lives under ``results/<plate>/sweep/chains/<digest>/``. A parameter
change changes the digest of its segment and of every later one, and nothing before it,
which is exactly what Snakemake must rerun.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from hcs_steps.workflow import paths
from hcs_steps.workflow.plan import Plan

DIGEST_LENGTH = 12
NAME_LIMIT = 100


@dataclass(frozen=True)
class Combination:
    """One set of swept values, planned: its name, values and the digest of each segment."""

    name: str
    values: dict
    plan: Plan
    chains: tuple[str, ...]
    plain: tuple[bool, ...]

    def step_plate(self, plate: str, segment_index: int, step: str) -> str:
        """The plate holding ``step``'s result (a step written by segment ``segment_index``)."""
        if self.plain[segment_index]:
            return paths.step_plate(plate, step)
        return paths.chain_step_plate(plate, self.chains[segment_index], step)

    def measurements(self, plate: str, segment_index: int, row: str, column: str) -> str:
        """The directory of a well's measurement tables from segment ``segment_index``."""
        segment = self.plan.segments[segment_index].name
        if self.plain[segment_index]:
            return paths.segment_measurements(plate, segment, row, column)
        chain = self.chains[segment_index]
        return paths.chain_measurements(plate, chain, segment, row, column)


@dataclass(frozen=True)
class Sweep:
    """Every combination of a validated ``sweep`` block, and the wells it runs on per plate."""

    keys: tuple[str, ...]
    combinations: tuple[Combination, ...]
    wells: dict[str, tuple[str, ...]]

    def combination(self, name: str) -> Combination:
        for combination in self.combinations:
            if combination.name == name:
                return combination
        raise KeyError(
            f"no sweep combination {name!r}; the sweep has "
            f"{', '.join(c.name for c in self.combinations)}"
        )

    def chain_owner(self, segment_index: int, chain: str) -> Combination:
        """A combination whose segment ``segment_index`` has digest ``chain``."""
        for combination in self.combinations:
            if combination.chains[segment_index] == chain:
                return combination
        raise KeyError(f"no sweep combination has chain {chain} at segment {segment_index}")

    def chains(self, segment_index: int) -> list[str]:
        """The distinct digests of one segment that are not the plain run's, in order."""
        return list(
            dict.fromkeys(
                c.chains[segment_index] for c in self.combinations if not c.plain[segment_index]
            )
        )

    def table(self) -> list[dict]:
        """One row per combination: its name and the value of every swept key."""
        return [{"combination": c.name, **c.values} for c in self.combinations]


def chain_digests(plan: Plan) -> tuple[str, ...]:
    """The digest of every segment: a hash of its steps and of every step before it.

    Only what changes a result enters: why a backend was chosen does not.

    Examples
    --------
    >>> from hcs_steps.workflow.plan import PlannedStep, Segment
    >>> def plan(sigma):
    ...     steps = (PlannedStep("a", "gaussian", {"sigma": 1}, "numpy", "cpu", "all", "", ""),
    ...              PlannedStep("b", "gaussian", {"sigma": sigma}, "numpy", "cpu", "all", "", ""))
    ...     segments = tuple(Segment(i, (s,), (s.name,)) for i, s in enumerate(steps))
    ...     return Plan(steps, segments, (), False)
    >>> one, two = chain_digests(plan(1)), chain_digests(plan(2))
    >>> one[0] == two[0], one[1] == two[1], len(one[0])
    (True, False, 12)
    """
    digests, seen = [], []
    for segment in plan.segments:
        seen.append(
            [
                {
                    "name": step.name,
                    "step": step.step,
                    "params": step.params,
                    "memory_type": step.memory_type,
                    "channels": step.channels,
                }
                for step in segment.steps
            ]
        )
        text = json.dumps(seen, sort_keys=True, default=str)
        digests.append(hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH])
    return tuple(digests)


def value_text(value) -> str:
    """A value as it appears in a combination name (file-system safe).

    Examples
    --------
    >>> [value_text(v) for v in (30, 1.5, True, "watershed", "a/b c")]
    ['30', '1.5', 'true', 'watershed', 'a_b_c']
    """
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=str)
    return re.sub(r"[^A-Za-z0-9.+-]", "_", text).strip("_") or "_"


def _short_digest(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]


def combination_names(keys, value_sets: list[dict]) -> list[str]:
    """Readable, stable names: ``<parameter>-<value>`` per swept key, joined by ``_``.

    A parameter name swept on two entries is spelled ``<entry>.<parameter>``. Names that
    would collide once made file-system safe, or grow too long, get a digest of the values.

    Examples
    --------
    >>> keys = ["tophat.selem_radius", "count.min_area"]
    >>> combination_names(keys, [{"tophat.selem_radius": 20, "count.min_area": 30}])
    ['selem_radius-20_min_area-30']
    >>> combination_names(["a.sigma", "b.sigma"], [{"a.sigma": 1, "b.sigma": 2}])
    ['a.sigma-1_b.sigma-2']
    >>> combination_names(["a.x"], [{"a.x": "p q"}, {"a.x": "p/q"}])
    ['x-p_q-1d57a154', 'x-p_q-86559208']
    """
    parameters = [key.split(".", 1)[1] for key in keys]
    labels = [
        key if parameters.count(p) > 1 else p for key, p in zip(keys, parameters, strict=True)
    ]
    names = [
        "_".join(
            f"{label}-{value_text(values[key])}" for label, key in zip(labels, keys, strict=True)
        )
        for values in value_sets
    ]
    clashing = [names.count(name) > 1 or len(name) > NAME_LIMIT for name in names]
    return [
        f"{name[: NAME_LIMIT - 9]}-{_short_digest(values)}" if clash else name
        for name, values, clash in zip(names, value_sets, clashing, strict=True)
    ]
