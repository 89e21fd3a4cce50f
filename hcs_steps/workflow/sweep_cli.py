"""``hcs-steps sweep pick|clean``: promote a combination; list or remove stale sweep results.

Both run in the workflow's directory (where ``results/`` is), like ``snakemake`` itself.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hcs_steps.workflow import paths
from hcs_steps.workflow.config import ConfigError, load_config
from hcs_steps.workflow.sweep import Sweep, chain_digests

DEFAULT_CONFIG = "config/config.yaml"
# What a sweep writes directly under results/<plate>/sweep/ besides its combinations' folders.
SWEEP_FILES = {"chains", "plots", "combinations.csv", "summary.csv", "summary.parquet"}


def _load(path: str):
    from hcs_steps.workflow.plan import build_plan
    from hcs_steps.workflow.sources import resolve_plates
    from hcs_steps.workflow.sweep_config import plan_sweep

    config = load_config(path)
    plan = build_plan(config)
    plates = resolve_plates(config)
    return plan, plates, plan_sweep(config, plan, plates)


def unreferenced(plates, sweep: Sweep | None, root: Path = Path(".")) -> list[Path]:
    """Everything under ``results/<plate>/sweep/`` of the configured plates that ``sweep``
    does not refer to: old combinations' folders and chain results no combination uses.

    Without a sweep every plate's whole ``sweep/`` folder is stale. The plain run's results
    (``steps/``, ``tables/``) are never listed.
    """
    names = {c.name for c in sweep.combinations} if sweep else set()
    chains = set()
    for combination in sweep.combinations if sweep else ():
        chains |= {
            d for d, plain in zip(combination.chains, combination.plain, strict=True) if not plain
        }
    stale = []
    for plate in plates:
        folder = root / paths.sweep_dir(plate)
        if not folder.is_dir():
            continue
        if sweep is None:
            stale.append(folder)
            continue
        stale += [p for p in sorted(folder.iterdir()) if p.name not in names | SWEEP_FILES]
        if (folder / "chains").is_dir():
            stale += [p for p in sorted((folder / "chains").iterdir()) if p.name not in chains]
    return stale


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def clean(configfile: str | None, delete: bool) -> int:
    """List the sweep results ``configfile`` no longer refers to; remove them with ``delete``."""
    path = configfile or DEFAULT_CONFIG
    try:
        _, plates, sweep = _load(path)
    except (ConfigError, FileNotFoundError) as error:
        print(f"hcs-steps sweep clean: {path}: {error}", file=sys.stderr)
        return 2
    stale = unreferenced(plates, sweep)
    if not stale:
        print(f"no sweep results outside what {path} refers to")
        return 0
    total = sum(_size(p) for p in stale)
    verb = "removing" if delete else "would remove"
    for item in stale:
        print(f"{verb} {item}{'/' if item.is_dir() else ''} ({_size(item) / 1e6:.1f} MB)")
    print(f"{len(stale)} item(s), {total / 1e6:.1f} MB, that {path} no longer refers to")
    if not delete:
        print("nothing removed; run again with --delete to remove them")
        return 0
    for item in stale:
        if item.is_dir():
            shutil.rmtree(item)
        else:
            item.unlink()
    return 0


def pick(name: str, configfile: str | None) -> int:
    """Write combination ``name``'s values into the pipeline of ``configfile``, and move its
    results into the plain run's place (:mod:`hcs_steps.workflow.refile`)."""
    from hcs_steps.workflow.promote import promote
    from hcs_steps.workflow.refile import (
        apply_moves,
        pending_sweep_jobs,
        plan_moves,
        record_moved,
        refresh_derived_tables,
        rewired_records,
    )

    path = configfile or DEFAULT_CONFIG
    try:
        plan, plates, sweep = _load(path)
        if sweep is None:
            raise ConfigError("the config has no sweep block to pick from")
        combination = sweep.combination(name)
        pending = pending_sweep_jobs(path)
        if pending:
            raise ConfigError(
                "the sweep's results are not all there or up to date; run `snakemake sweep` "
                f"first (then the picked results can be reused):\n{pending}"
            )
        changes = promote(Path(path), combination.values)
    except (ConfigError, FileNotFoundError, KeyError, RuntimeError) as error:
        message = error.args[0] if isinstance(error, KeyError) else error
        print(f"hcs-steps sweep pick: {path}: {message}", file=sys.stderr)
        return 2
    for change in changes:
        print(f"{path}: {change}")
    if not changes:
        print(f"{path}: the pipeline already has the values of {name}")
    before, after = chain_digests(plan), combination.chains
    moves = plan_moves(plates, plan, before, after)
    apply_moves(moves)
    promoted = [move.target for move in moves if move.promoted]
    merged = refresh_derived_tables(moves, plan)
    stale = promoted + merged + rewired_records(plates, plan, sweep, before, after)
    print(
        f"moved {len(promoted)} result(s) of {name} into the plain run's place and "
        f"{len(moves) - len(promoted)} of the previous values into sweep/chains/"
    )
    try:
        record_moved(stale, path)
    except RuntimeError as error:
        print(f"hcs-steps sweep pick: {error}", file=sys.stderr)
        return 1
    return 0
