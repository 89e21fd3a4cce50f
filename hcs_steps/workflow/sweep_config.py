"""Check a config's ``sweep`` block and plan every combination, before any job runs.

The schema has already checked the block's shape (a key per ``<entry>.<parameter>``, no
empty list). What it cannot see is refused here with the key path at fault: an entry that
is not in the pipeline, a parameter its step lacks, a value the step's own check rejects,
a combination listed twice, more combinations than ``max_combinations``, and a well that
is not on a plate.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

from hcs_steps.workflow.config import ConfigError
from hcs_steps.workflow.plan import Plan
from hcs_steps.workflow.sweep import Combination, Sweep, chain_digests, combination_names

DEFAULT_MAX_COMBINATIONS = 64


def _entry(config: dict, key: str, where: str) -> tuple[int, dict, str]:
    """The pipeline index and entry a swept key names, and the parameter."""
    from hcs_steps import steps

    name, parameter = key.split(".", 1)
    names = [entry["name"] for entry in config["pipeline"]]
    if name not in names:
        raise ConfigError(
            f"config key {where}: no pipeline entry {name!r} (entries: {', '.join(names)})"
        )
    index = names.index(name)
    entry = config["pipeline"][index]
    accepted = steps.get_step(entry["step"]).parameters
    if parameter not in accepted:
        raise ConfigError(
            f"config key {where}: step {entry['step']!r} (pipeline entry {name!r}) has no "
            f"parameter {parameter!r}; it accepts {', '.join(accepted) or 'no parameters'}"
        )
    return index, entry, parameter


def _check_values(config: dict, overrides: dict, where: str, what: str = "") -> None:
    """Let each touched step check its parameters with ``overrides`` applied."""
    from hcs_steps import steps

    touched: dict[int, dict] = {}
    for key, value in overrides.items():
        index, entry, parameter = _entry(config, key, where)
        touched.setdefault(index, dict(entry["params"]))[parameter] = value
    for index, params in touched.items():
        try:
            steps.validate_parameters(config["pipeline"][index]["step"], params)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"config key {where}: {what}{error}") from None


def _grid(config: dict, block: dict, limit: int) -> list[dict]:
    """The cartesian product of ``params``, each value checked on its own first."""
    grid = block["params"]
    for key, values in grid.items():
        _entry(config, key, f"sweep.params.{key}")
        for index, value in enumerate(values):
            if value in values[:index]:
                raise ConfigError(
                    f"config key sweep.params.{key}[{index}]: value {value!r} is listed twice, "
                    "which would run the same combination twice"
                )
            _check_values(config, {key: value}, f"sweep.params.{key}[{index}]")
    count = math.prod(len(values) for values in grid.values())
    if count > limit:
        sizes = " x ".join(str(len(values)) for values in grid.values())
        raise ConfigError(
            f"config key sweep.params: {sizes} = {count} combinations, more than "
            f"sweep.max_combinations ({limit}); sweep fewer values or raise max_combinations"
        )
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def _listed(config: dict, block: dict, limit: int) -> list[dict]:
    listed = block["combinations"]
    if len(listed) > limit:
        raise ConfigError(
            f"config key sweep.combinations: {len(listed)} combinations, more than "
            f"sweep.max_combinations ({limit}); list fewer or raise max_combinations"
        )
    for index, overrides in enumerate(listed):
        for key in overrides:
            _entry(config, key, f"sweep.combinations[{index}].{key}")
    return [dict(overrides) for overrides in listed]


def effective_values(plan: Plan, keys, overrides: dict) -> dict:
    """Every swept key's value in one combination: its override, else the pipeline's value."""
    params = {step.name: step.params for step in plan.steps}
    values = {}
    for key in keys:
        name, parameter = key.split(".", 1)
        values[key] = overrides.get(key, params[name].get(parameter))
    return values


def combination_plan(plan: Plan, config: dict, overrides: dict) -> Plan:
    """``plan`` with the overridden parameters (the segments' structure does not change)."""
    from hcs_steps import steps

    by_entry: dict[str, dict] = {}
    for key, value in overrides.items():
        name, parameter = key.split(".", 1)
        by_entry.setdefault(name, {})[parameter] = value
    entries = {entry["name"]: entry for entry in config["pipeline"]}
    replaced = {
        name: dataclasses.replace(
            step,
            params=steps.validate_parameters(
                step.step, {**entries[name]["params"], **by_entry[name]}
            ),
        )
        for name, step in ((s.name, s) for s in plan.steps)
        if name in by_entry
    }
    segments = tuple(
        dataclasses.replace(
            segment, steps=tuple(replaced.get(step.name, step) for step in segment.steps)
        )
        for segment in plan.segments
    )
    return dataclasses.replace(
        plan, steps=tuple(replaced.get(s.name, s) for s in plan.steps), segments=segments
    )


def _wells(block: dict, plates: dict) -> dict[str, tuple[str, ...]]:
    from hcs_steps.plate import PlateDataError, canonical_well
    from hcs_steps.plate.layout import sort_wells

    if "wells" not in block:
        return {name: plate.wells for name, plate in plates.items()}
    chosen = {}
    for name, plate in plates.items():
        wells = []
        for index, well in enumerate(block["wells"]):
            try:
                canonical = canonical_well(well)
            except PlateDataError as error:
                raise ConfigError(f"config key sweep.wells[{index}]: {error}") from None
            if canonical not in plate.plate_wells:
                raise ConfigError(
                    f"config key sweep.wells[{index}]: no well {well!r} on plate {name}; "
                    f"it has {', '.join(plate.plate_wells)}"
                )
            wells.append(canonical)
        chosen[name] = tuple(sort_wells(wells))
    return chosen


def _refuse_swept_estimates(
    plan: Plan, combined: Plan, shared: tuple, where: str, combination: str
) -> None:
    """A flat-field estimate is made once per plate, from the plain run's data: a sweep may
    vary the steps after the correction, not the correction or the steps before it."""
    steps = {step.name: step for step in combined.steps}
    for estimate in plan.estimates:
        reads_plain = estimate.segment == 0 or shared[estimate.segment - 1]
        if not reads_plain or steps[estimate.step.name].params != estimate.step.params:
            raise ConfigError(
                f"config key {where}: combination {combination} changes step "
                f"{estimate.step.name!r} or a step before it; its flat-field estimate is made "
                "once per plate, so a sweep may vary only the steps after it"
            )


def plan_sweep(config: dict, plan: Plan, plates: dict) -> Sweep | None:
    """Check the ``sweep`` block of a validated config and plan it; ``None`` without one.

    Raises
    ------
    ConfigError
        Naming the key path, e.g. ``config key sweep.params.count.min_area[1]: ...``.
    """
    block = config.get("sweep")
    if block is None:
        return None
    if ("params" in block) == ("combinations" in block):
        raise ConfigError(
            "config key sweep: give either params (every combination of the listed values) "
            "or combinations (an explicit list), not both or neither"
        )
    limit = block.get("max_combinations", DEFAULT_MAX_COMBINATIONS)
    if "params" in block:
        overrides, where = _grid(config, block, limit), "sweep.params"
    else:
        overrides, where = _listed(config, block, limit), "sweep.combinations"
    keys = list(dict.fromkeys(key for combination in overrides for key in combination))
    value_sets = []
    for index, combination in enumerate(overrides):
        position = where if where == "sweep.params" else f"{where}[{index}]"
        spelled = ", ".join(f"{key}={value!r}" for key, value in combination.items())
        _check_values(config, combination, position, f"combination {spelled}: ")
        values = effective_values(plan, keys, combination)
        if values in value_sets:
            raise ConfigError(
                f"config key {position}: the same values as an earlier combination "
                f"({', '.join(f'{k}={v!r}' for k, v in values.items())}); list each once"
            )
        value_sets.append(values)
    plain = chain_digests(plan)
    combinations = []
    for name, values, combination in zip(
        combination_names(keys, value_sets), value_sets, overrides, strict=True
    ):
        combined = combination_plan(plan, config, combination)
        chains = chain_digests(combined)
        shared = tuple(a == b for a, b in zip(chains, plain, strict=True))
        _refuse_swept_estimates(plan, combined, shared, where, name)
        combinations.append(Combination(name, values, combined, chains, shared))
    return Sweep(tuple(keys), tuple(combinations), _wells(block, plates))
