"""Run a pipeline in Python, in this process: for notebooks and scripts.

A :class:`Pipeline` is a list of :class:`FunctionStep` (a registered step name, or a
memory-decorated function, with its parameters). It is turned into the same config the
Snakemake workflow validates, planned by the same planner (:func:`~.plan.build_plan`), and
each planned segment runs through the same code as a segment rule
(:func:`~.run_segment.process_well`). Only the disk between segments is left out: a
segment's result goes to the next in memory, as the numpy array the rule would write.

Examples
--------
The seed's three steps on one well of the demo plate:

>>> from hcs_steps.workflow.pipeline import FunctionStep, Pipeline
>>> pipeline = Pipeline([
...     FunctionStep(func="stack_percentile_normalize", name="normalize",
...                  low_percentile=1.0, high_percentile=99.0),
...     FunctionStep(func="tophat", name="tophat", selem_radius=50),
...     FunctionStep(func="count_cells_single_channel", name="count_cells",
...                  detection_method="blob_log", channel=["nuclei"]),
... ], backend="numpy")
>>> print(pipeline.describe())  # doctest: +ELLIPSIS
GPU: not used ...
segments (one Snakemake rule each, one job per well...
  segment_normalize_to_count_cells: normalize -> tophat -> count_cells [numpy on cpu]; ...
>>> result = pipeline.run({"format": "demo"}, wells=["B02"])
>>> result.images["count_cells"]["B02"].shape  # fields, channels, Z, Y, X
(2, 3, 8, 256, 256)
>>> counts = result.tables["counts"]
>>> sorted(set(counts["channel"])), int(counts["count"].sum()) > 0
(['nuclei'], True)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class FunctionStep:
    """One pipeline step: what runs, with which parameters, on which channels.

    Parameters
    ----------
    func : str or callable
        A registered step name (``hcs-steps list``), or a function decorated with a memory
        decorator; a function that is not yet a registered implementation is registered
        as a step named ``name``.
    name : str, optional
        The step's name in results and tables; the step name by default.
    channel : "all" or list of str
        The channels it applies to (the others pass through unchanged).
    backend : str, optional
        The library to run in (``"auto"`` by default; a decorated function's own library).
    device : str
        ``"auto"``, ``"cpu"`` or ``"gpu"``.
    **params
        The step's parameters.
    """

    func: str | Callable
    name: str | None = None
    channel: str | list[str] = "all"
    backend: str | None = None
    device: str = "auto"
    params: dict = field(default_factory=dict)

    def __init__(self, func, name=None, channel="all", backend=None, device="auto", **params):
        self.func, self.name, self.channel = func, name, channel
        self.backend, self.device, self.params = backend, device, params

    def entry(self) -> dict:
        """This step as a ``pipeline`` entry of the workflow's config."""
        step, backend = _step_of(self.func, self.name)
        return {
            "name": self.name or step,
            "step": step,
            "backend": self.backend or backend,
            "device": self.device,
            "channel": self.channel,
            "params": dict(self.params),
        }


@dataclass
class PipelineResult:
    """What a run gives back, per written step and well, and per measurement kind.

    ``images[step][well]`` is the numpy array a segment rule writes for that step,
    ``(fields, channels, Z, Y, X)``; ``tables[kind]`` (``counts``, ``objects``) has the rows
    of the workflow's well tables, for every well run; ``labels[objects][well]`` is the
    ``(fields, Z, Y, X)`` label image of each object set (what the workflow writes as the
    result plate's OME-NGFF labels).
    """

    images: dict[str, dict[str, object]]
    tables: dict[str, pd.DataFrame]
    labels: dict[str, dict[str, object]] = field(default_factory=dict)


class Pipeline:
    """Steps planned and run like the Snakemake workflow, in this process.

    Parameters
    ----------
    steps : iterable of FunctionStep
    backend : str, optional
        The library of every step that names none (default ``"auto"``).
    fuse, keep, gpu, plugins
        As the workflow config's keys of those names (``config/README.md``).
    """

    def __init__(
        self,
        steps: Iterable[FunctionStep],
        *,
        backend: str = "auto",
        fuse: bool = True,
        keep: list[str] | None = None,
        gpu="auto",
        plugins: list[str] | None = None,
    ):
        self.steps = list(steps)
        self.settings = {
            "fuse": fuse,
            "keep": list(keep or []),
            "gpu": gpu,
            "plugins": list(plugins or []),
        }
        self.backend = backend

    def config(
        self, plate: dict | None = None, wells="all", channels="all", name: str = "plate"
    ) -> dict:
        """The workflow config this pipeline stands for, validated (defaults filled in)."""
        from hcs_steps.workflow.config import validate_config

        pipeline = []
        for step in self.steps:
            entry = step.entry()
            if step.backend is None and not callable(step.func):
                entry["backend"] = self.backend
            pipeline.append(entry)
        config = {
            "plates": {name: copy.deepcopy(plate or {"format": "demo"})},
            "wells": wells,
            "channels": channels,
            "pipeline": pipeline,
            **copy.deepcopy(self.settings),
        }
        return validate_config(config)

    def plan(self):
        """The :class:`~hcs_steps.workflow.plan.Plan`, as the workflow would make it here."""
        from hcs_steps.workflow.plan import build_plan

        return build_plan(self.config())

    def describe(self) -> str:
        """The plan as ``hcs-steps plan`` prints it."""
        from hcs_steps.workflow.plan_cli import format_plan

        config = self.config()
        return format_plan(self.plan(), config)

    def run(
        self, plate: dict | str, wells="all", channels="all", name: str | None = None
    ) -> PipelineResult:
        """Run on the wells of ``plate`` and return their images and tables.

        ``plate`` is a ``plates`` entry of the workflow config (``{"path": ...,
        "format": "ome-zarr"}``, an instrument folder's ``{"path": ..., "format":
        "imagexpress"}``, ``{"format": "demo"}``), or the path of an OME-Zarr plate.
        ``name`` is the plate's name in the tables, by default the folder's name without
        its suffix (``tiny`` for ``tiny.zarr``), or the format's.
        """
        from hcs_steps.workflow.plan import build_plan
        from hcs_steps.workflow.sources import resolve_plates

        if isinstance(plate, str):
            plate = {"path": plate, "format": "ome-zarr"}
        if name is None:
            name = Path(plate["path"]).stem if plate.get("path") else plate["format"]
        config = self.config(plate, wells, channels, name)
        plan = build_plan(config)
        for estimate in plan.estimates:
            # One well at a time, the API never sees the plate that the estimate samples.
            raise ValueError(
                f"step {estimate.step.name!r} ({estimate.step.step}) applies a flat field "
                "estimated from the whole plate, which the Snakemake workflow's plate-level "
                f"rule {estimate.rule_name} makes; run this pipeline with the workflow, or "
                "correct with hcs_steps.screen.flatfield.estimate_flatfield and correct"
            )
        (source,) = resolve_plates(config).values()
        images: dict[str, dict[str, object]] = {}
        labels: dict[str, dict[str, object]] = {}
        tables: dict[str, list[pd.DataFrame]] = {}
        for well in source.wells:
            written, objects = self._run_well(plan, source, well, config, tables)
            for name, array in written.items():
                images.setdefault(name, {})[well] = array
            for name, array in objects.items():
                labels.setdefault(name, {})[well] = array
        merged = {kind: _concat(frames, kind) for kind, frames in tables.items()}
        return PipelineResult(images, merged, labels)

    def _run_well(self, plan, source, well, config, tables) -> tuple[dict, dict]:
        from hcs_steps import plate as plates
        from hcs_steps.workflow.run_segment import run_segment_on_data

        channels = list(source.channel_names)
        if source.ingest:
            opened = source.open()
            order = [list(opened.channel_names).index(c) for c in channels]
            data = opened.read_well(well)[:, order]
        else:
            data = plates.read_well(source.input_plate, well, channels=channels)
        written, objects = {}, {}
        for segment in plan.segments:
            results, segment_tables, labels = run_segment_on_data(
                segment.spec(),
                data,
                plate=source.name,
                well=well,
                channel_names=channels,
                plugins=config["plugins"],
            )
            written.update(results)
            objects.update(labels)
            data = results[segment.output_step]
            for kind, frame in segment_tables.items():
                tables.setdefault(kind, []).append(frame)
        return written, objects


def _step_of(func, name) -> tuple[str, str]:
    """(registered step name, backend) for a step name or a decorated function."""
    from hcs_steps.steps import list_steps, register_step

    if isinstance(func, str):
        return func, "auto"
    memory_type = getattr(func, "input_memory_type", None)
    if memory_type is None:
        raise TypeError(
            f"FunctionStep: {func!r} is neither a step name nor a function decorated with a "
            "memory decorator (@numpy, @torch, ..., @memory_types)"
        )
    for definition in list_steps():
        if definition.implementations.get(memory_type) is func:
            return definition.name, memory_type.value
    step = name or func.__name__
    register_step(step)(func)
    return step, memory_type.value


def _concat(frames: list[pd.DataFrame], kind: str) -> pd.DataFrame:
    from hcs_steps.workflow.tables import read_frames

    return read_frames(frames, kind)
