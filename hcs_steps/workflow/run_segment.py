"""Run one planned segment on one well: the body of every step rule.

Reads the well's chunks once (``(fields, channels, Z, Y, X)`` numpy), and for each field and
channel converts the ``[Z, Y, X]`` stack once to the segment's memory type on the job's
device, applies the segment's steps in memory, and converts back to numpy only where a
result is written: after the last step, and after steps listed under ``keep``. Special
outputs (``counts``, ``objects``, ``features``, ``feature_summary``) become per-well
measurement tables. A step's ``labels`` special output is kept in memory as that field's
objects, named by the step; a step that reads every channel (``grow_cells``,
``measure_objects``) gets them, and each channel's stack as it reaches that step, once all
channels of the field have passed through the steps before it; the objects it gives
(cells, and their cytoplasm as ``<step>_cytoplasm``) join the field's objects.
"""

from __future__ import annotations

import contextlib
import logging
import os

import numpy as np
import pandas as pd

from hcs_steps.workflow.gpu_slots import GpuSlot, gpu_slot, in_slurm_job
from hcs_steps.workflow.joblog import job_logger
from hcs_steps.workflow.tables import TABLE_KINDS, tidy, write_table


def applies_to(step: dict, channel: str) -> bool:
    """Whether a planned step (its ``spec()``) processes ``channel``.

    Examples
    --------
    >>> applies_to({"channels": "all"}, "DAPI"), applies_to({"channels": ["GFP"]}, "DAPI")
    (True, False)
    """
    return step["channels"] == "all" or channel in step["channels"]


def _usable_slot(slot: GpuSlot, spec: dict, well: str) -> GpuSlot:
    """The slot itself, or the CPU when the GPU it names has no CUDA behind it.

    SLURM hands out GPUs by its gres configuration, not by asking CUDA: a node without an
    NVIDIA driver (a test cluster's fake GPUs, a broken driver) still gets
    CUDA_VISIBLE_DEVICES. The plan was made on the login node with ``gpu: true``, so the
    job decides here: libraries that also run on the CPU do, CuPy cannot.
    """
    from hcs_steps.memory.adapters import adapter_for
    from hcs_steps.memory.device import cuda_available

    if slot.gpu_id is None or cuda_available():
        return slot
    if not adapter_for(spec["memory_type"]).host_capable:
        raise RuntimeError(
            f"well {well}, segment {spec['segment']}: {spec['memory_type']} needs CUDA, but "
            f"{slot.reason} has no usable CUDA device here (no NVIDIA driver); pin the step's "
            "backend to a library that also runs on the CPU, or run on a CUDA node"
        )
    return GpuSlot("cpu", None, f"{slot.reason}, but CUDA cannot use it (no NVIDIA driver)")


def _stack_results(well: str, name: str, per_field: list[list[np.ndarray]]) -> np.ndarray:
    shapes = {stack.shape for field in per_field for stack in field}
    if len(shapes) > 1:
        raise ValueError(
            f"well {well}: after step {name!r} the channels have different shapes {sorted(shapes)}"
            "; a step that changes the stack shape (e.g. a projection) must apply to all channels"
        )
    dtype = np.result_type(*[stack.dtype for field in per_field for stack in field])
    return np.stack([np.stack([s.astype(dtype, copy=False) for s in f]) for f in per_field])


def _special_tables(special: dict, context: dict, tables: dict[str, list]) -> None:
    for kind in TABLE_KINDS:
        frame = special.get(kind)
        if frame is not None and len(frame):
            tables[kind].append(frame.assign(**context))


def _host(array) -> np.ndarray:
    from hcs_steps import memory

    return np.asarray(memory.convert(array, memory.MemoryType.NUMPY, allow_cpu_roundtrip=True))


def _apply(step: dict, stack, function, context: dict, tables: dict[str, list], objects: dict):
    """Run one step on one stack; collect its special outputs and objects; return the new
    stack."""
    output = function(stack, **step["params"])
    if not isinstance(output, tuple):
        return output
    stack, special = output
    _special_tables(special, {**context, "step": step["name"]}, tables)
    if "labels" in special:
        objects[step["name"]] = (context["channel"], _host(special["labels"]))
    return stack


def _measure(step: dict, function, objects: dict, channels: dict, field: int, tables) -> None:
    """Run a step that reads every channel on the field's objects; keep the objects it
    gives (``labels`` as ``<step>``, ``cytoplasm`` as ``<step>_cytoplasm``)."""
    name = step["params"]["objects"]
    if name not in objects:
        raise ValueError(
            f"step {step['name']!r}: field {field} has no objects {name!r}; the step {name!r} "
            "must come earlier and give labels (return_labels: true)"
        )
    channel, labels = objects[name]
    _, special = function(labels, channels=channels, **step["params"])
    _special_tables(special, {"field": field, "channel": channel, "step": step["name"]}, tables)
    # Objects grown from these (cells from nuclei) keep the channel of their seeds.
    for key, suffix in (("labels", ""), ("cytoplasm", "_cytoplasm")):
        if key in special:
            objects[step["name"] + suffix] = (channel, _host(special[key]))


def process_well(
    data: np.ndarray, spec: dict, channel_names, slot: GpuSlot, implementations, logger
):
    """Apply a segment to a well array; return ``(results by step name, tables by kind)``.

    ``implementations`` maps each step name to its decorated function. Results are per
    written step: a list per field of one numpy stack per channel. ``logger`` gets the
    device the library itself reports for the data (pyclesperanto: the OpenCL device).
    """
    from hcs_steps import memory

    target = memory.MemoryType(spec["memory_type"])
    # A library with devices of its own (pyclesperanto's OpenCL devices) places a job's
    # "cpu" or "cuda:N" on its current device itself (its adapter's placement).
    device = slot.device
    results = {name: [[] for _ in range(data.shape[0])] for name in spec["written"]}
    tables = {kind: [] for kind in TABLE_KINDS}
    for field in range(data.shape[0]):
        objects = {}
        readings = {step["name"]: {} for step in spec["steps"] if step.get("reads_channels")}
        for channel_index, channel in enumerate(channel_names):
            stack = memory.convert(data[field, channel_index], target, device=device)
            if field == channel_index == 0:
                logger.info("data in %s on %s", spec["memory_type"], memory.device_of(stack))
            for step in spec["steps"]:
                if applies_to(step, channel):
                    if step["name"] in readings:
                        readings[step["name"]][channel] = _host(stack)
                    else:
                        context = {"field": field, "channel": channel}
                        function = implementations[step["name"]]
                        stack = _apply(step, stack, function, context, tables, objects)
                if step["name"] in results:
                    results[step["name"]][field].append(_host(stack))
        for name, channels in readings.items():
            step = next(step for step in spec["steps"] if step["name"] == name)
            _measure(step, implementations[name], objects, channels, field, tables)
    return results, tables


def run_segment_on_data(
    spec: dict,
    data: np.ndarray,
    *,
    plate: str,
    well: str,
    channel_names: list[str],
    plugins: list[str] = (),
    logger=None,
) -> tuple[dict[str, np.ndarray], dict[str, pd.DataFrame]]:
    """Run ``spec`` on a well's ``(fields, channels, Z, Y, X)`` array, in memory.

    Returns the numpy array of each written step and the well's tidy measurement tables
    by kind: what :func:`run_segment` writes, and what the Python pipeline API returns.
    """
    from hcs_steps import memory, steps

    logger = logger or logging.getLogger(__name__)
    steps.load_plugins(plugins)
    implementations = {
        step["name"]: steps.get_step(step["step"]).implementations[
            memory.MemoryType(step["memory_type"])
        ]
        for step in spec["steps"]
    }
    wants_gpu = spec["device"] == "gpu"
    if in_slurm_job():
        logger.info(
            "SLURM job %s: CUDA_VISIBLE_DEVICES=%s",
            os.environ["SLURM_JOB_ID"],
            os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"),
        )
    with (
        gpu_slot()
        if wants_gpu
        else contextlib.nullcontext(
            GpuSlot("cpu", None, f"planned for the CPU: {spec['device_reason']}")
        ) as slot
    ):
        if wants_gpu:
            slot = _usable_slot(slot, spec, well)
        logger.info(
            "segment %s (%s): device %s - %s",
            spec["segment"],
            spec["memory_type"],
            slot.device,
            slot.reason,
        )
        if wants_gpu and slot.gpu_id is None:
            logger.warning(
                "no GPU for this GPU-typed segment: %s runs on the CPU", spec["memory_type"]
            )
        for step in spec["steps"]:
            logger.info(
                "step %s = %s[%s] (backend: %s) params %s channels %s",
                step["name"],
                step["step"],
                step["memory_type"],
                step["backend_reason"],
                step["params"],
                step["channels"],
            )
        # The job's device and (on a GPU) this thread's CUDA stream, set once for the well:
        # the decorated steps inside run on them without switching or synchronising.
        with memory.run_on(spec["memory_type"], slot.device):
            results, tables = process_well(data, spec, channel_names, slot, implementations, logger)
    arrays = {name: _stack_results(well, name, per_field) for name, per_field in results.items()}
    tidy_tables = {
        kind: tidy(pd.concat(frames) if frames else None, kind, plate=plate, well=well)
        for kind, frames in tables.items()
    }
    return arrays, tidy_tables


def run_segment(
    spec: dict,
    *,
    plate: str,
    well: str,
    input_plate: str,
    output_plates: dict[str, str],
    measurements: dict[str, str],
    channel_names: list[str],
    log: str | None = None,
    plugins: list[str] = (),
    provenance: dict | None = None,
) -> None:
    """Run ``spec`` (a :meth:`~hcs_steps.workflow.plan.Segment.spec`) on one well.

    Writes the well into each plate of ``output_plates`` (step name -> plate path) and the
    special outputs into ``measurements`` (kind -> Parquet path, written even when empty).
    """
    from hcs_steps import plate as plates

    with job_logger(log) as logger:
        data = plates.read_well(input_plate, well, channels=list(channel_names))
        logger.info(
            "plate %s well %s: read %s %s from %s", plate, well, data.shape, data.dtype, input_plate
        )
        arrays, tables = run_segment_on_data(
            spec,
            data,
            plate=plate,
            well=well,
            channel_names=channel_names,
            plugins=plugins,
            logger=logger,
        )
        for name, array in arrays.items():
            record = {**(provenance or {}), "segment": spec, "step": name, "well": well}
            plates.write_well(
                output_plates[name],
                well,
                array,
                channel_names=list(channel_names),
                provenance=record,
            )
            logger.info(
                "wrote step %s: %s %s to %s", name, array.shape, array.dtype, output_plates[name]
            )
        for kind, path in measurements.items():
            write_table(tables[kind], kind, path, plate=plate, well=well)
            logger.info("wrote %d %s rows to %s", len(tables[kind]), kind, path)
