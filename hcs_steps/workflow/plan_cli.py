"""``hcs-steps plan [configfile]``: show what the workflow will run, without running it."""

from __future__ import annotations

import sys

from hcs_steps.workflow.config import ConfigError, load_config
from hcs_steps.workflow.plan import Plan, build_plan, well_resources

DEFAULT_CONFIG = "config/config.yaml"


def _resources(resources: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in resources.items()) or "-"


def format_plan(plan: Plan, config: dict, plates: dict | None = None) -> str:
    """The plan as text: steps, segments, conversions and each rule's resources."""
    gpu = "used" if plan.use_gpu else "not used"
    lines = [f"GPU: {gpu} (config gpu: {config['gpu']}); fuse: {config['fuse']}", ""]
    for name, plate in (plates or {}).items():
        lines.append(
            f"plate {name}: {plate.format}, {len(plate.wells)} well(s), channels "
            f"{', '.join(plate.channel_names)}; step 1 reads {plate.input_plate}"
        )
    lines += ["", "steps:"]
    for number, step in enumerate(plan.steps, 1):
        channels = step.channels if step.channels == "all" else ", ".join(step.channels)
        reads = (
            f"; reads the objects of {step.params['objects']} and every channel listed"
            if step.reads_channels
            else ""
        )
        lines.append(
            f"  {number}. {step.name}: {step.step} as {step.memory_type} on {step.device} "
            f"[{step.reason}]; channels: {channels}; params: {step.params}{reads}"
        )
    lines += ["", "segments (one Snakemake rule each, one job per well):"]
    for segment in plan.segments:
        lines.append(
            f"  {segment.rule_name}: {' -> '.join(s.name for s in segment.steps)} "
            f"[{segment.memory_type} on {segment.device}]; writes {', '.join(segment.written)}; "
            f"resources: {_resources(segment.resources)}"
        )
    lines += ["", "conversions between segments:"]
    lines += [f"  {c.describe()}" for c in plan.conversions] or ["  none (a single segment)"]
    extra = _resources(well_resources(config, plan.use_gpu))
    lines += [
        "",
        f"other per-well rules (group 'well'): ingest_well, well_tables; resources: {extra}",
        "plate rules (localrules): plate_metadata, plate_tables, heatmaps, software_versions, "
        "config_copy; resources: -",
    ]
    return "\n".join(lines)


def main(configfile: str | None = None) -> int:
    """Print the plan for ``configfile`` (default ``config/config.yaml``); 0 on success.

    An invalid config prints the key path at fault to stderr and returns 2.
    """
    from hcs_steps.workflow.sources import resolve_plates

    path = configfile or DEFAULT_CONFIG
    try:
        config = load_config(path)
        plan = build_plan(config)
        plates = resolve_plates(config)
    except (ConfigError, FileNotFoundError) as error:
        print(f"hcs-steps plan: {path}: {error}", file=sys.stderr)
        return 2
    print(f"plan for {path}")
    print(format_plan(plan, config, plates))
    return 0
