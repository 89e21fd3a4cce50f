"""Run one planned segment on one well: the body of every step rule.

Streams the well field by field: each channel's ``[Z, Y, X]`` stack is read from its chunks,
converted once to the segment's memory type on the job's device, run through the segment's
steps in memory, and converted back to numpy only where a result is written (after the last
step, and after steps listed under ``keep``); each channel's results are written before the
next channel is read, and each written well appears, complete, once its last field is
written. So a job holds about one channel's input and results (and the objects and the
channels a step reading every channel needs), however many fields and channels a well has.

Special outputs (``counts``, ``objects``, ``features``, ``feature_summary``) become per-well
measurement tables. A step's ``labels`` special output is kept in memory as that field's
objects, named by the step; a step that reads every channel (``grow_cells``,
``measure_objects``) gets them, and each channel's stack as it reaches that step, once all
channels of the field have passed through the steps before it; the objects it gives
(cells, and their cytoplasm as ``<step>_cytoplasm``) join the field's objects. Every object
set of a field is written as an OME-NGFF label image of that field (``labels/<name>``) in
the plate of the segment's output step (:func:`labels_step`), the result the next segment
reads: the labels lie over the image they were found in and are not channels, so the next
step reads the same channels as before.

:func:`run_segment` streams from and to OME-Zarr plates; :func:`run_segment_on_data` runs
the same fields of an in-memory well (the Python pipeline API).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

import numpy as np
import pandas as pd

from hcs_steps.workflow.allocator import map_large_buffers
from hcs_steps.workflow.gpu_slots import GpuSlot, gpu_slot, in_slurm_job
from hcs_steps.workflow.joblog import job_logger
from hcs_steps.workflow.segment_input import BadInput, input_reader, skip_well
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


def _same_shapes(well: str, field: int, name: str, shapes) -> None:
    shapes = set(shapes)
    if len(shapes) > 1:
        raise ValueError(
            f"well {well}, field {field}: after step {name!r} the channels have different "
            f"shapes {sorted(shapes)}; a step that changes the stack shape (e.g. a projection) "
            "must apply to all channels"
        )


def _channel_writer(well: str, field: int, images: dict) -> Callable[[str, np.ndarray], None]:
    """``write`` of :func:`process_field` for one field: each written step's channel goes
    straight into that step's field image (:class:`~hcs_steps.plate.field_writer.FieldWriter`)."""
    first_shapes = {}

    def write(name: str, stack: np.ndarray) -> None:
        _same_shapes(well, field, name, (first_shapes.setdefault(name, stack.shape), stack.shape))
        images[name].write_channel(stack)

    return write


def _special_tables(special: dict, context: dict, tables: dict[str, list]) -> None:
    for kind in TABLE_KINDS:
        frame = special.get(kind)
        if frame is not None and len(frame):
            tables[kind].append(frame.assign(**context))


def limit_library_threads(memory_type: str, threads: int) -> None:
    """Let the segment's library use ``threads`` cores per operation (torch: intra-op threads).

    Snakemake runs as many jobs at once as ``--cores`` allows, each on its rule's
    ``threads``; torch would otherwise give every operation of every job one thread per
    core, and its OpenMP threads spin while they wait for a core: on 2 cores a serial loop
    of 24 wells took 7.5 s of CPU with torch's default threads and 3.6 s with one
    (``benchmarks/orchestration.py``). The setting is per process, and every job of a
    threaded run asks for the same ``threads``.
    """
    if memory_type == "torch":
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _host(array) -> np.ndarray:
    from hcs_steps import memory

    return np.asarray(memory.convert(array, memory.MemoryType.NUMPY, allow_cpu_roundtrip=True))


def _apply(
    step: dict, stack, function, context: dict, tables: dict[str, list], objects: dict, inputs
):
    """Run one step on one stack (with ``inputs``, what the workflow passes it); collect its
    special outputs and objects; return the new stack."""
    output = function(stack, **step["params"], **inputs)
    if not isinstance(output, tuple):
        return output
    stack, special = output
    _special_tables(special, {**context, "step": step["name"]}, tables)
    if "labels" in special:
        objects.setdefault(step["name"], {})[context["channel"]] = _host(special["labels"])
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
    # One channel's objects: the plan refuses to measure those of a step on several.
    ((channel, labels),) = objects[name].items()
    _, special = function(labels, channels=channels, **step["params"])
    _special_tables(special, {"field": field, "channel": channel, "step": step["name"]}, tables)
    # Objects grown from these (cells from nuclei) keep the channel of their seeds.
    for key, suffix in (("labels", ""), ("cytoplasm", "_cytoplasm")):
        if key in special:
            objects[step["name"] + suffix] = {channel: _host(special[key])}


def labels_step(spec: dict) -> str:
    """The step whose plate holds a segment's labels: its output step, the last step that
    changes the data (a step reading every channel only measures or adds objects).

    Examples
    --------
    >>> labels_step({"steps": [{"name": "count"}, {"name": "cells", "reads_channels": True}]})
    'count'
    """
    return next(s["name"] for s in reversed(spec["steps"]) if not s.get("reads_channels"))


def label_images(objects: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A field's objects (name -> channel -> labels) as named label images: the step's name,
    or ``<step>_<channel>`` for a step that gave labels on several channels.

    Examples
    --------
    >>> one, two = np.ones((1, 2, 2), np.uint32), np.zeros((1, 2, 2), np.uint32)
    >>> sorted(label_images({"count": {"nuclei": one}, "seg": {"a": one, "b": two}}))
    ['count', 'seg_a', 'seg_b']
    """
    return {
        name if len(per_channel) == 1 else f"{name}_{channel}": labels
        for name, per_channel in objects.items()
        for channel, labels in per_channel.items()
    }


def process_field(
    read: Callable[[int, int], np.ndarray],
    field: int,
    spec: dict,
    channel_names,
    device,
    implementations,
    tables,
    logger,
    illumination: dict | None = None,
    write: Callable[[str, np.ndarray], None] | None = None,
) -> tuple[dict[str, list[np.ndarray]], dict[str, np.ndarray]]:
    """Apply a segment to one field; ``read(field, channel_index)`` gives its stacks.

    Returns, per written step, one numpy stack per channel, and the field's objects (name
    -> numpy labels); special outputs are appended to
    ``tables`` (kind -> list of frames). With ``write``, each written step's numpy stack
    of a channel goes to ``write(step_name, stack)`` as soon as the channel is through the
    steps, instead of into the returned stacks: the job then holds one channel's results,
    not the field's. ``implementations`` maps each step name to its
    decorated function. ``logger`` gets the device the library itself reports for the data
    (pyclesperanto: the OpenCL device). ``illumination`` maps a step that reads it to
    ``{channel: (flatfield, darkfield)}`` (numpy; see
    :func:`~hcs_steps.workflow.flatfield_job.read_illumination`).
    """
    from hcs_steps import memory

    target = memory.MemoryType(spec["memory_type"])
    results = {name: [] for name in spec["written"]}
    write = write or (lambda name, stack: results[name].append(stack))
    objects = {}
    readings = {step["name"]: {} for step in spec["steps"] if step.get("reads_channels")}
    for channel_index, channel in enumerate(channel_names):
        stack = memory.convert(read(field, channel_index), target, device=device)
        if field == channel_index == 0:
            logger.info("data in %s on %s", spec["memory_type"], memory.device_of(stack))
        for step in spec["steps"]:
            if applies_to(step, channel):
                if step["name"] in readings:
                    readings[step["name"]][channel] = _host(stack)
                else:
                    context = {"field": field, "channel": channel}
                    function = implementations[step["name"]]
                    inputs = _workflow_inputs(step, channel, illumination, target, device)
                    stack = _apply(step, stack, function, context, tables, objects, inputs)
            if step["name"] in results:
                write(step["name"], _host(stack))
        del stack  # the channel's last result, written: not held while the next is read
    for name, channels in readings.items():
        step = next(step for step in spec["steps"] if step["name"] == name)
        _measure(step, implementations[name], objects, channels, field, tables)
    return results, label_images(objects)


def _workflow_inputs(step: dict, channel: str, illumination, target, device) -> dict:
    """The keyword inputs the workflow gives ``step`` for ``channel``: its flat and dark
    field where it reads them, converted like the stack (two planes: cheap next to a
    field)."""
    if not step.get("reads_illumination"):
        return {}
    from hcs_steps import memory

    estimate = (illumination or {}).get(step["name"])
    if estimate is None or channel not in estimate:
        raise ValueError(
            f"step {step['name']!r}: no flat-field estimate for channel {channel!r}; it comes "
            "from the workflow's plate-level rule (estimate_<step>), which the Snakemake "
            "workflow runs before the step's segment"
        )
    pair = [memory.convert(plane, target, device=device) for plane in estimate[channel]]
    return {"illumination": tuple(pair)}


def _log_segment(logger, spec: dict, slot: GpuSlot, wants_gpu: bool) -> None:
    """The job log's account of where the segment runs and why, and of each step."""
    if in_slurm_job():
        logger.info(
            "SLURM job %s: CUDA_VISIBLE_DEVICES=%s",
            os.environ["SLURM_JOB_ID"],
            os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"),
        )
    logger.info(
        "segment %s (%s): device %s - %s",
        spec["segment"],
        spec["memory_type"],
        slot.device,
        slot.reason,
    )
    if wants_gpu and slot.gpu_id is None:
        logger.warning("no GPU for this GPU-typed segment: %s runs on the CPU", spec["memory_type"])
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


@contextlib.contextmanager
def segment_session(spec: dict, *, well: str, plugins=(), logger, threads: int = 1):
    """Everything a segment's fields run inside: its implementations, a GPU slot when it is
    GPU-typed, the job's device and (on a GPU) this thread's CUDA stream, set once.

    Yields ``(device, implementations)``.
    """
    from hcs_steps import memory, steps

    steps.load_plugins(plugins)
    implementations = {
        step["name"]: steps.get_step(step["step"]).implementations[
            memory.MemoryType(step["memory_type"])
        ]
        for step in spec["steps"]
    }
    wants_gpu = spec["device"] == "gpu"
    planned_cpu = GpuSlot("cpu", None, f"planned for the CPU: {spec['device_reason']}")
    with gpu_slot() if wants_gpu else contextlib.nullcontext(planned_cpu) as slot:
        if wants_gpu:
            slot = _usable_slot(slot, spec, well)
        _log_segment(logger, spec, slot, wants_gpu)
        limit_library_threads(spec["memory_type"], threads)
        # A library with devices of its own (pyclesperanto's OpenCL devices) places a job's
        # "cpu" or "cuda:N" on its current device itself (its adapter's placement); the
        # decorated steps inside run on the device without switching or synchronising.
        with memory.run_on(spec["memory_type"], slot.device):
            yield slot.device, implementations


def _tidy_tables(tables: dict[str, list], plate: str, well: str) -> dict[str, pd.DataFrame]:
    return {
        kind: tidy(pd.concat(frames) if frames else None, kind, plate=plate, well=well)
        for kind, frames in tables.items()
    }


def run_segment_on_data(
    spec: dict,
    data: np.ndarray,
    *,
    plate: str,
    well: str,
    channel_names: list[str],
    plugins: list[str] = (),
    logger=None,
) -> tuple[dict[str, np.ndarray], dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """Run ``spec`` on a well's ``(fields, channels, Z, Y, X)`` array, in memory.

    Returns the numpy array of each written step, the well's tidy measurement tables by
    kind, and its objects (name -> ``(fields, Z, Y, X)`` labels): what :func:`run_segment`
    writes, field by field the same way.
    """
    logger = logger or logging.getLogger(__name__)
    tables = {kind: [] for kind in TABLE_KINDS}
    per_field = {name: [] for name in spec["written"]}
    labels_per_field = []
    with segment_session(spec, well=well, plugins=plugins, logger=logger) as session:
        device, implementations = session
        for field in range(data.shape[0]):
            results, labels = process_field(
                lambda f, c: data[f, c],
                field,
                spec,
                channel_names,
                device,
                implementations,
                tables,
                logger,
            )
            for name, stacks in results.items():
                _same_shapes(well, field, name, (stack.shape for stack in stacks))
                per_field[name].append(stacks)
            labels_per_field.append(labels)
    arrays = {}
    for name, fields in per_field.items():
        dtype = np.result_type(*[stack.dtype for stacks in fields for stack in stacks])
        arrays[name] = np.stack(
            [np.stack([s.astype(dtype, copy=False) for s in f]) for f in fields]
        )
    objects = {
        name: np.stack([labels[name] for labels in labels_per_field])
        for name in labels_per_field[0]
    }
    return arrays, _tidy_tables(tables, plate, well), objects


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
    threads: int = 1,
    illumination=None,
    missing_chunks: str = "error",
    on_bad_well: str = "fail",
    reads_input_plate: bool = True,
) -> None:
    """Run ``spec`` (a :meth:`~hcs_steps.workflow.plan.Segment.spec`) on one well.

    Writes the well into each plate of ``output_plates`` (step name -> plate path), with
    the field's objects as labels in the plate of :func:`labels_step`, and the
    special outputs into ``measurements`` (kind -> Parquet path, written even when empty).
    ``threads`` is the cores the job may use (see :func:`limit_library_threads`).
    ``illumination`` is the directory of the plate's flat-field estimate for the segment's
    first step, when that step applies one (otherwise empty: no file).
    ``missing_chunks`` goes to :func:`~hcs_steps.plate.open_well`. With ``on_bad_well="skip"``
    a well whose input cannot be read, or that an earlier job skipped, is published as
    skipped (:mod:`hcs_steps.plate.skipped`) instead of failing the job; the segment that
    finds the fault, or the one reading the plate's input (``reads_input_plate``: a well the
    ingest skipped), records why in ``field_qc``.
    """
    from hcs_steps.plate.reader import well_directory
    from hcs_steps.plate.skipped import skipped_reason

    map_large_buffers()
    with job_logger(log) as logger:
        outputs = {"output_plates": output_plates, "measurements": measurements}
        upstream = skipped_reason(well_directory(input_plate, well))
        if upstream is not None:
            record = reads_input_plate  # the ingest, which skipped it, records nothing
            skip_well(spec, plate, well, **outputs, reason=upstream, record=record, logger=logger)
            return
        try:
            _stream_well(
                spec,
                plate=plate,
                well=well,
                output_plates=output_plates,
                input_plate=input_plate,
                measurements=measurements,
                channel_names=channel_names,
                logger=logger,
                plugins=plugins,
                provenance=provenance,
                threads=threads,
                illumination=illumination,
                missing_chunks=missing_chunks,
            )
        except BadInput as error:
            if on_bad_well != "skip":
                raise error.__cause__ from None
            skip_well(spec, plate, well, **outputs, reason=str(error), record=True, logger=logger)


def _stream_well(
    spec,
    *,
    plate,
    well,
    input_plate,
    output_plates,
    measurements,
    channel_names,
    logger,
    plugins,
    provenance,
    threads,
    illumination,
    missing_chunks,
) -> None:
    from hcs_steps import plate as plates
    from hcs_steps.workflow.flatfield_job import read_illumination

    estimates = {}
    if illumination:
        estimates[spec["steps"][0]["name"]] = read_illumination(str(illumination))

    try:
        source = plates.open_well(
            input_plate, well, channels=list(channel_names), missing_chunks=missing_chunks
        )
    except plates.PlateDataError as error:
        raise BadInput(str(error)) from error
    logger.info(
        "plate %s well %s: %s %s from %s", plate, well, source.shape, source.dtype, input_plate
    )
    tables = {kind: [] for kind in TABLE_KINDS}
    read = input_reader(source, channel_names, missing_chunks, tables, logger)
    with contextlib.ExitStack() as held:
        device, implementations = held.enter_context(
            segment_session(spec, well=well, plugins=plugins, logger=logger, threads=threads)
        )
        writers = {
            name: held.enter_context(
                plates.WellWriter(
                    output_plates[name],
                    well,
                    fields=source.shape[0],
                    channel_names=list(channel_names),
                    provenance={
                        **(provenance or {}),
                        "segment": spec,
                        "step": name,
                        "well": well,
                        "device": str(device),
                    },
                )
            )
            for name in spec["written"]
        }
        labelled = {}
        for field in range(source.shape[0]):
            images = {name: writer.field() for name, writer in writers.items()}
            _, objects = process_field(
                read,
                field,
                spec,
                channel_names,
                device,
                implementations,
                tables,
                logger,
                estimates,
                write=_channel_writer(well, field, images),
            )
            for name, image in images.items():
                image.finish(objects if name == labels_step(spec) else None)
            labelled |= dict.fromkeys(objects)
        for name, writer in writers.items():
            writer.publish()
            shape, dtype = writer.shape_dtype
            logger.info(
                "wrote step %s: %s %s to %s",
                name,
                (source.shape[0], len(channel_names), *shape),
                dtype,
                output_plates[name],
            )
        if labelled:
            logger.info(
                "wrote labels %s of each field with step %s", ", ".join(labelled), labels_step(spec)
            )
    for kind, frame in _tidy_tables(tables, plate, well).items():
        if kind in measurements:
            write_table(frame, kind, measurements[kind], plate=plate, well=well)
            logger.info("wrote %d %s rows to %s", len(frame), kind, measurements[kind])
