"""``hcs-steps plan [configfile]``: show what the workflow will run, without running it."""

from __future__ import annotations

import sys

from hcs_steps.workflow.config import ConfigError, load_config
from hcs_steps.workflow.plan import Plan, build_plan, check_estimate_fields, well_resources
from hcs_steps.workflow.sweep import Sweep

DEFAULT_CONFIG = "config/config.yaml"


def _resources(resources: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in resources.items()) or "-"


def _estimate_memory(estimate, plates: dict) -> str:
    """The ``mem_mb`` an estimate's job asks for on each plate (its sample of fields)."""
    from hcs_steps.workflow.flatfield_job import estimate_memory_mb

    if not plates:
        return "mem_mb from the plate's field size"
    sizes = []
    for name, plate in plates.items():
        fields = min(len(plate.wells) * plate.source.field_count, estimate.step.params["fields"])
        sizes.append(f"mem_mb={estimate_memory_mb(fields, plate.source.shape_zyx[1:])} ({name})")
    return ", ".join(sizes)


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
        gives = f"; gives objects {', '.join(step.objects)}" if step.objects else ""
        lines.append(
            f"  {number}. {step.name}: {step.step} as {step.memory_type} on {step.device} "
            f"[{step.reason}]; channels: {channels}; params: {step.params}{reads}{gives}"
        )
    if plan.estimates:
        lines += ["", "plate-level estimates (one Snakemake rule each, one job per plate):"]
    for estimate in plan.estimates:
        segment = plan.segments[estimate.segment]
        params = estimate.step.params
        reads = "the plate's input"
        if estimate.segment:
            reads = f"the result of {plan.segments[estimate.segment - 1].output_step}"
        lines.append(
            f"  {estimate.rule_name}: {params['method']} flat field"
            f"{' and dark field' if params['darkfield'] else ''} per channel of "
            f"{estimate.step.name} from up to {params['fields']} fields of {reads}; writes "
            f"results/<plate>/flatfield/{estimate.step.name}; read by every well's "
            f"{segment.rule_name}; resources: {_estimate_memory(estimate, plates or {})}"
        )
    lines += [
        "",
        "segments (one Snakemake rule each, one job per well; when Snakemake submits jobs, "
        "e.g. to SLURM, the ingest, segments and tables of cluster.wells_per_job wells are "
        "one rule and one job, well_batch_<plate>_<first>_<last>, or well_chain for 1):",
    ]
    for segment in plan.segments:
        reads = (
            f"; reads estimate_{segment.steps[0].name}"
            if segment.steps[0].reads_illumination
            else ""
        )
        objects = [name for step in segment.steps for name in step.objects]
        labels = f" (with each field's labels {', '.join(objects)})" if objects else ""
        tables = ", then the well's tables" if segment is plan.segments[-1] else ""
        lines.append(
            f"  {segment.rule_name}: {' -> '.join(s.name for s in segment.steps)} "
            f"[{segment.memory_type} on {segment.device}]; writes {', '.join(segment.written)}"
            f"{labels}{tables}; resources: {_resources(segment.resources)}{reads}"
        )
    lines += ["", "conversions between segments:"]
    lines += [f"  {c.describe()}" for c in plan.conversions] or ["  none (a single segment)"]
    extra = _resources(well_resources(config, plan.use_gpu))
    lines += [
        "",
        f"other per-well rule (group 'well'): ingest_well; resources: {extra}",
        "plate rules (localrules): plate_metadata, plate_tables, heatmaps, run_record; "
        "resources: -",
    ]
    return "\n".join(lines)


def format_sweep(sweep: Sweep, plan: Plan) -> str:
    """Each combination, and for each segment which result it uses: the plain run's or a chain.

    A chain (``chains/<digest>``) shared by several combinations runs once per well.
    """
    wells = "; ".join(f"{plate}: {', '.join(w)}" for plate, w in sweep.wells.items())
    lines = [
        f"sweep: {len(sweep.combinations)} combination(s) of {', '.join(sweep.keys)}",
        f"  wells: {wells}",
        "  jobs per well and segment (results shared by combinations are computed once):",
    ]
    for segment in plan.segments:
        chains = sweep.chains(segment.index)
        plain = sum(c.plain[segment.index] for c in sweep.combinations)
        uses = [f"{len(chains)} sweep result(s)"]
        if plain:
            uses.append(f"the plain run's result for {plain} combination(s)")
        lines.append(f"    {segment.rule_name}: {' and '.join(uses)}")
    lines.append("  combinations (segment: plain = results/<plate>/steps, else chains/<digest>):")
    for combination in sweep.combinations:
        values = ", ".join(f"{key}={value!r}" for key, value in combination.values.items())
        uses = ", ".join(
            f"{segment.name}: {'plain' if shared else chain}"
            for segment, chain, shared in zip(
                plan.segments, combination.chains, combination.plain, strict=True
            )
        )
        lines.append(f"    {combination.name}: {values}")
        lines.append(f"      {uses}")
    lines += [
        "  rules: sweep_<segment rule> (group 'well'; one job per chain and well), "
        "sweep_well_tables (group 'well'),",
        "    localrules sweep_tables, sweep_combinations, sweep_summary, sweep_plots; "
        "`snakemake sweep` builds only the sweep",
    ]
    return "\n".join(lines)


def main(configfile: str | None = None) -> int:
    """Print the plan for ``configfile`` (default ``config/config.yaml``); 0 on success.

    An invalid config prints the key path at fault to stderr and returns 2.
    """
    from hcs_steps.workflow.sources import resolve_plates
    from hcs_steps.workflow.sweep_config import plan_sweep

    path = configfile or DEFAULT_CONFIG
    try:
        config = load_config(path)
        plan = build_plan(config)
        plates = resolve_plates(config)
        check_estimate_fields(plan, plates, config)
        sweep = plan_sweep(config, plan, plates)
    except (ConfigError, FileNotFoundError) as error:
        print(f"hcs-steps plan: {path}: {error}", file=sys.stderr)
        return 2
    print(f"plan for {path}")
    print(format_plan(plan, config, plates))
    if sweep:
        print()
        print(format_sweep(sweep, plan))
    return 0
