"""Turn the configured pipeline into segments: what runs in one job, in one process.

Each step gets a memory type (its configured backend, or what ``auto`` picks for this
machine) and a device class (``cpu`` or ``gpu``). A *segment* is a maximal run of
consecutive steps with the same memory type and device: the well's data is converted once
on entry, stays in that library (and on that device) across the steps, and is written once
on exit. With ``fuse: false`` every step is its own segment. Between segments the data
passes through the step's OME-Zarr result on disk; each such hand-over is a
:class:`Conversion`.

A step that reads every channel (``measure_objects``) measures objects that an earlier step
found and that live only in the job's memory: it runs on the host in the segment of the
step before it, whatever that segment's memory type, and the step whose objects it reads
must be in the same segment.

A step that applies a plate-level estimate (``flatfield_correct``: the flat field of each
channel, from a sample of the plate's fields) starts a segment of its own: the estimate is a
plate-level rule (an :class:`Estimate`) that reads the data as it reaches the step, which is
then on disk, the segment's input, for every well.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hcs_steps.memory.adapters import adapter_for as _library
from hcs_steps.workflow.config import ConfigError
from hcs_steps.workflow.gpu_slots import visible_gpus


@dataclass(frozen=True)
class PlannedStep:
    """One configured step with the implementation chosen for it."""

    name: str
    step: str
    params: dict
    memory_type: str
    device: str
    channels: str | tuple[str, ...]
    reason: str
    device_reason: str
    reads_channels: bool = False
    reads_illumination: bool = False

    @property
    def objects(self) -> tuple[str, ...]:
        """The names of the object sets this step gives each field, which later steps can
        read and the result plate holds as labels: ``<step>`` (and ``<step>_cytoplasm`` for
        grown cells); ``<step>_<channel>`` when the step gives labels on several channels.

        Examples
        --------
        >>> PlannedStep("nuclei", "segment_nuclei", {}, "numpy", "cpu", ("dna",), "", "").objects
        ('nuclei',)
        """
        from hcs_steps.steps.catalog import OBJECT_SUFFIXES

        wanted = self.params.get("return_labels")
        if wanted is False:
            return ()
        suffixes = OBJECT_SUFFIXES.get(self.step, ("",) if wanted else ())
        if self.reads_channels or (self.channels != "all" and len(self.channels) == 1):
            return tuple(self.name + suffix for suffix in suffixes)
        channels = ("<channel>",) if self.channels == "all" else self.channels
        return tuple(f"{self.name}_{channel}" for channel in channels if suffixes)

    def spec(self) -> dict:
        """JSON-able description (what a segment job runs and logs, and a rerun trigger)."""
        channels = self.channels if self.channels == "all" else list(self.channels)
        spec = {
            "name": self.name,
            "step": self.step,
            "params": self.params,
            "memory_type": self.memory_type,
            "channels": channels,
            "backend_reason": self.reason,
        }
        if self.reads_channels:
            spec["reads_channels"] = True
        if self.reads_illumination:
            spec["reads_illumination"] = True
        return spec


@dataclass(frozen=True)
class Segment:
    """Consecutive steps that run in one job: one memory type, one device class."""

    index: int
    steps: tuple[PlannedStep, ...]
    written: tuple[str, ...]
    resources: dict = field(default_factory=dict)

    @property
    def memory_type(self) -> str:
        return self.steps[0].memory_type

    @property
    def device(self) -> str:
        return self.steps[0].device

    @property
    def uses_gpu(self) -> bool:
        return self.device == "gpu"

    @property
    def name(self) -> str:
        """``normalize`` for one step, ``normalize_to_count`` for several."""
        first, last = self.steps[0].name, self.steps[-1].name
        return first if first == last else f"{first}_to_{last}"

    @property
    def rule_name(self) -> str:
        return f"segment_{self.name}"

    @property
    def output_step(self) -> str:
        """The step whose result the next segment reads: the last one that changes the
        data (a measuring step only reads it)."""
        return last_transform(self.steps).name

    def spec(self) -> dict:
        return {
            "segment": self.name,
            "memory_type": self.memory_type,
            "device": self.device,
            "device_reason": "; ".join(dict.fromkeys(s.device_reason for s in self.steps)),
            "steps": [step.spec() for step in self.steps],
            "written": list(self.written),
        }


@dataclass(frozen=True)
class Conversion:
    """A change of memory type or device where the data leaves one segment for the next."""

    source: str
    target: str
    source_type: str
    target_type: str
    source_device: str
    target_device: str

    def describe(self) -> str:
        source = f"{self.source_type}@{self.source_device}"
        target = f"{self.target_type}@{self.target_device}"
        change = "no type change" if source == target else f"{source} -> {target}"
        return f"{self.source} -> {self.target}: {change} (via numpy and the OME-Zarr result)"


@dataclass(frozen=True)
class Estimate:
    """A plate-level rule: one job per plate estimates the flat (and dark) field of each
    channel a step corrects, from the input of the segment that the step starts."""

    step: PlannedStep
    segment: int

    @property
    def rule_name(self) -> str:
        return f"estimate_{self.step.name}"

    def spec(self) -> dict:
        """What the estimate depends on (a rerun trigger): the step's parameters and
        channels."""
        spec = self.step.spec()
        return {key: spec[key] for key in ("name", "step", "params", "channels")}


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlannedStep, ...]
    segments: tuple[Segment, ...]
    conversions: tuple[Conversion, ...]
    use_gpu: bool
    estimates: tuple[Estimate, ...] = ()


def decide_gpu(setting) -> bool:
    """Whether this run uses GPUs: ``true``/``false`` as configured, ``auto`` if one is visible.

    Examples
    --------
    >>> decide_gpu(True), decide_gpu(False)
    (True, False)
    """
    if setting == "auto":
        return bool(visible_gpus())
    return bool(setting)


def well_resources(config: dict, use_gpu: bool) -> dict:
    """Extra resources of every per-well rule: ``gpu_resources`` when the run uses GPUs.

    Examples
    --------
    >>> well_resources({"gpu_resources": {"slurm_partition": "gpu"}}, True)
    {'slurm_partition': 'gpu'}
    >>> well_resources({"gpu_resources": {"slurm_partition": "gpu"}}, False)
    {}
    """
    return dict(config["gpu_resources"]) if use_gpu else {}


def device_choice(entry: dict, memory_type: str, gpu_setting, use_gpu: bool) -> tuple[str, str]:
    """The device class of a step (``cpu`` or ``gpu``) and why, for the job's log.

    Examples
    --------
    >>> device_choice({"device": "auto"}, "torch", "auto", False)
    ('cpu', 'gpu: auto and no GPU visible')
    >>> device_choice({"device": "auto"}, "torch", True, True)
    ('gpu', 'gpu: true in the config')
    >>> device_choice({"device": "auto"}, "numpy", True, True)
    ('cpu', 'numpy runs on the CPU only')
    """
    if entry["device"] == "cpu":
        return "cpu", "device: cpu in the config"
    if not _library(memory_type).gpu_capable:
        return "cpu", f"{memory_type} runs on the CPU only"
    if entry["device"] == "gpu":
        return "gpu", "device: gpu in the config"
    device = "gpu" if use_gpu else "cpu"
    if gpu_setting == "auto":
        return device, f"gpu: auto and {'a' if use_gpu else 'no'} GPU visible"
    return device, f"gpu: {str(gpu_setting).lower()} in the config"


def plan_step(entry: dict, use_gpu: bool, gpu_setting) -> PlannedStep:
    """Choose the memory type and device of one validated pipeline entry."""
    from hcs_steps import steps

    available = [t.value for t in steps.get_step(entry["step"]).implementations]
    params = steps.validate_parameters(entry["step"], entry["params"])
    memory_type, _ = steps.choose_implementation(
        entry["step"], entry["backend"], gpu_available=use_gpu
    )
    memory_type = memory_type.value
    if entry["backend"] == "auto":
        from hcs_steps.steps import dispatch

        if use_gpu:
            machine, order = "GPU in use", dispatch.auto_preference(True)
        else:
            machine, order = "no GPU in use", dispatch.auto_preference(False)
        preference = ", ".join(dict.fromkeys(t.value for t in order))
        reason = (
            f"auto ({machine}): first installed of {preference}; "
            f"implemented in {', '.join(available)}"
        )
    else:
        reason = "configured"
    device, device_reason = device_choice(entry, memory_type, gpu_setting, use_gpu)
    channels = entry["channel"] if entry["channel"] == "all" else tuple(entry["channel"])
    return PlannedStep(
        entry["name"],
        entry["step"],
        params,
        memory_type,
        device,
        channels,
        reason,
        device_reason,
        steps.get_step(entry["step"]).reads_channels,
        steps.get_step(entry["step"]).reads_illumination,
    )


def group_segments(planned: list[PlannedStep], fuse: bool) -> list[list[PlannedStep]]:
    """Split steps into maximal same-(memory type, device) runs, or one per step.

    A step that reads every channel joins the run before it in any case: the objects it
    measures exist only in that job's memory. A step that applies a plate-level estimate
    starts a run: the estimate reads what the run before it wrote.

    Examples
    --------
    >>> def s(name, mt):
    ...     return PlannedStep(name, name, {}, mt, "cpu", "all", "", "")
    >>> runs = group_segments([s("a", "torch"), s("b", "torch"), s("c", "numpy")], True)
    >>> [[step.name for step in run] for run in runs]
    [['a', 'b'], ['c']]
    >>> len(group_segments([s("a", "torch"), s("b", "torch")], False))
    2
    """
    runs: list[list[PlannedStep]] = []
    for step in planned:
        previous = runs[-1][-1] if runs else None
        same_kind = previous is not None and (previous.memory_type, previous.device) == (
            step.memory_type,
            step.device,
        )
        if previous is not None and (
            step.reads_channels or fuse and same_kind and not step.reads_illumination
        ):
            runs[-1].append(step)
        else:
            runs.append([step])
    return runs


def last_transform(run) -> PlannedStep:
    """The last step of ``run`` that is not a measuring step (reads every channel).

    Examples
    --------
    >>> steps = [PlannedStep(n, n, {}, "numpy", "cpu", "all", "", "", n == "measure")
    ...          for n in ("count", "measure")]
    >>> last_transform(steps).name
    'count'
    """
    return next(step for step in reversed(run) if not step.reads_channels)


def check_object_inputs(segments: list[list[PlannedStep]], entries: list[dict]) -> None:
    """Each measuring step's ``objects`` name an earlier step of its segment that gives
    labels on one channel (or grew them from such labels); a :class:`ConfigError` names the
    config key otherwise."""
    index = {entry["name"]: number for number, entry in enumerate(entries)}
    for run in segments:
        for position, step in enumerate(run):
            if not step.reads_channels:
                continue
            source = step.params["objects"]
            key = f"config key pipeline[{index[step.name]}].params.objects"
            earlier = {s.name: s for s in run[:position]}
            # A step that grows cells also gives their cytoplasm, as <step>_cytoplasm.
            earlier |= {f"{s.name}_cytoplasm": s for s in run[:position] if s.reads_channels}
            index |= {f"{s.name}_cytoplasm": index[s.name] for s in run if s.reads_channels}
            if source not in earlier:
                where = "is not an earlier step" if source not in index else "runs in another job"
                raise ConfigError(
                    f"{key}: {source!r} {where}; the objects travel in memory within one "
                    "job, so the step that finds them must come earlier and share the "
                    "memory type and device of the steps in between"
                )
            producer = earlier[source]
            if producer.params.get("return_labels") is False:
                raise ConfigError(
                    f"config key pipeline[{index[source]}].params.return_labels: step "
                    f"{source!r} must give its labels (true) for {step.name!r} to measure them"
                )
            one_channel = producer.channels != "all" and len(producer.channels) == 1
            if not producer.reads_channels and not one_channel:
                raise ConfigError(
                    f"config key pipeline[{index[source]}].channel: the objects of {source!r} "
                    f"that {step.name!r} measures must come from one channel"
                )


def check_labels_fit(segments: list[list[PlannedStep]], entries: list[dict]) -> None:
    """Objects are written as labels over the image of their segment's output step, so no
    step after the one that gives them, in the same segment, may change the stack's shape
    (a projection); a :class:`ConfigError` names the config key otherwise."""
    from hcs_steps import steps

    index = {entry["name"]: number for number, entry in enumerate(entries)}
    for run in segments:
        givers = []
        for step in run:
            if givers and not steps.get_step(step.step).keeps_shape:
                raise ConfigError(
                    f"config key pipeline[{index[step.name]}]: {step.name!r} ({step.step}) "
                    f"changes the stack's shape after {givers[0]!r} gave objects in the same "
                    "job, and the objects are written as labels over the job's result image; "
                    f"put {step.name!r} before {givers[0]!r}, or end the job there (fuse: "
                    f"false, or another backend for {step.name!r})"
                )
            if step.objects:
                givers.append(step.name)


def build_plan(config: dict) -> Plan:
    """Plan a validated config (see :mod:`hcs_steps.workflow.config`)."""
    use_gpu = decide_gpu(config["gpu"])
    planned = [plan_step(entry, use_gpu, config["gpu"]) for entry in config["pipeline"]]
    for index, step in enumerate(planned):
        if not _library(step.memory_type).host_capable and step.device == "cpu":
            raise ConfigError(
                f"config key pipeline[{index}].backend: {step.memory_type} runs on a GPU only, "
                f"and this run uses none (gpu: {config['gpu']}, device: "
                f"{config['pipeline'][index]['device']}); choose another backend or set gpu: true"
            )
    keep = config["keep"]
    segments = []
    runs = group_segments(planned, config["fuse"])
    check_object_inputs(runs, config["pipeline"])
    check_labels_fit(runs, config["pipeline"])
    for index, run in enumerate(runs):
        last = last_transform(run)
        written = tuple(
            step.name
            for step in run
            if not step.reads_channels and (step is last or keep == "all" or step.name in keep)
        )
        resources = {"gpu": 1 if run[0].device == "gpu" else 0}
        if use_gpu:
            # A well's rules form one group job on a cluster, and a group job runs in one
            # partition: every per-well rule of a GPU run gets the GPU resources.
            resources.update(well_resources(config, use_gpu))
        segments.append(Segment(index, tuple(run), written, resources))
    conversions = [
        Conversion(a.output_step, b.steps[0].name, a.memory_type, b.memory_type, a.device, b.device)
        for a, b in zip(segments, segments[1:], strict=False)
    ]
    estimates = [
        Estimate(segment.steps[0], segment.index)
        for segment in segments
        if segment.steps[0].reads_illumination
    ]
    return Plan(tuple(planned), tuple(segments), tuple(conversions), use_gpu, tuple(estimates))


def check_estimate_fields(plan: Plan, plates: dict, config: dict) -> None:
    """Every plate has enough fields in its selected wells for each flat-field estimate; a
    :class:`ConfigError` names the step's key and the plate otherwise."""
    from hcs_steps.screen.flatfield import MIN_FIELDS

    index = {entry["name"]: number for number, entry in enumerate(config["pipeline"])}
    for estimate in plan.estimates:
        for name, plate in plates.items():
            available = len(plate.wells) * plate.source.field_count
            if available < MIN_FIELDS:
                raise ConfigError(
                    f"config key pipeline[{index[estimate.step.name]}].step: plate {name} has "
                    f"{available} field(s) in its selected wells, and the flat-field estimate "
                    f"of {estimate.step.name!r} needs at least {MIN_FIELDS}; select more wells "
                    "or leave the step out"
                )
