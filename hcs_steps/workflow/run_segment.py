"""Run one planned segment on one well: the body of every step rule.

Streams the well field by field: each channel's ``[Z, Y, X]`` stack is read from its chunks,
converted once to the segment's memory type on the job's device, run through the segment's
steps in memory, and converted back to numpy only where a result is written (after the last
step, and after steps listed under ``keep``); each field's results are written before the
next field is read, and each written well appears, complete, once its last field is written.
So a job holds about one field's input and results, however many fields a well has. Special
outputs (``counts``, ``objects``) become per-well measurement tables.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from hcs_steps.workflow.gpu_slots import GpuSlot, gpu_slot
from hcs_steps.workflow.joblog import job_logger
from hcs_steps.workflow.tables import MEASUREMENT_COLUMNS, write_table


def applies_to(step: dict, channel: str) -> bool:
    """Whether a planned step (its ``spec()``) processes ``channel``.

    Examples
    --------
    >>> applies_to({"channels": "all"}, "DAPI"), applies_to({"channels": ["GFP"]}, "DAPI")
    (True, False)
    """
    return step["channels"] == "all" or channel in step["channels"]


def _device_for(memory_type: str, slot: GpuSlot) -> str | None:
    # pyclesperanto names OpenCL devices, not "cpu"/"cuda:N": let it pick its default.
    if memory_type == "pyclesperanto" and slot.gpu_id is None:
        return None
    return slot.device


def _field_channels(well: str, field: int, name: str, stacks: list[np.ndarray]) -> list:
    shapes = {stack.shape for stack in stacks}
    if len(shapes) > 1:
        raise ValueError(
            f"well {well}, field {field}: after step {name!r} the channels have different "
            f"shapes {sorted(shapes)}; a step that changes the stack shape (e.g. a projection) "
            "must apply to all channels"
        )
    return stacks


def _special_tables(special: dict, context: dict, tables: dict[str, list]) -> None:
    for kind in MEASUREMENT_COLUMNS:
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


def _stream(target, device):
    """This thread's CUDA stream for cupy/torch on a GPU (jobs in threads share a GPU)."""
    from hcs_steps.memory.streams import needs_stream, thread_stream

    if device and needs_stream(target, device):
        return thread_stream(target, device)
    return contextlib.nullcontext()


def _apply(step: dict, stack, function, context: dict, tables: dict[str, list]):
    """Run one step on one stack; collect its special outputs; return the new stack."""
    output = function(stack, **step["params"])
    if not isinstance(output, tuple):
        return output
    stack, special = output
    _special_tables(special, {**context, "step": step["name"]}, tables)
    return stack


def process_field(
    source, field: int, spec: dict, channel_names, device, implementations, tables, logger
) -> dict[str, list[np.ndarray]]:
    """Apply a segment to one field of an opened well (:class:`~hcs_steps.plate.WellImages`).

    Returns, per written step, one numpy stack per channel; special outputs are appended to
    ``tables`` (kind -> list of frames). ``implementations`` maps each step name to its
    decorated function. ``logger`` gets the device the library itself reports for the data
    (pyclesperanto: the OpenCL device).
    """
    from hcs_steps import memory

    target = memory.MemoryType(spec["memory_type"])
    results = {name: [] for name in spec["written"]}
    for channel_index, channel in enumerate(channel_names):
        stack = memory.convert(source.read(field, channel_index), target, device=device)
        if field == channel_index == 0:
            logger.info("data in %s on %s", spec["memory_type"], memory.device_of(stack))
        for step in spec["steps"]:
            if applies_to(step, channel):
                context = {"field": field, "channel": channel}
                stack = _apply(step, stack, implementations[step["name"]], context, tables)
            if step["name"] in results:
                host = memory.convert(stack, memory.MemoryType.NUMPY, allow_cpu_roundtrip=True)
                results[step["name"]].append(np.asarray(host))
    return results


def _log_segment(logger, spec: dict, slot: GpuSlot, wants_gpu: bool) -> None:
    """The job log's account of where the segment runs and why, and of each step."""
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
) -> None:
    """Run ``spec`` (a :meth:`~hcs_steps.workflow.plan.Segment.spec`) on one well.

    Writes the well into each plate of ``output_plates`` (step name -> plate path) and the
    special outputs into ``measurements`` (kind -> Parquet path, written even when empty).
    ``threads`` is the cores the job may use (see :func:`limit_library_threads`).
    """
    from hcs_steps import memory, steps
    from hcs_steps import plate as plates

    with job_logger(log) as logger:
        steps.load_plugins(plugins)
        implementations = {
            step["name"]: steps.get_step(step["step"]).implementations[
                memory.MemoryType(step["memory_type"])
            ]
            for step in spec["steps"]
        }
        source = plates.open_well(input_plate, well, channels=list(channel_names))
        logger.info(
            "plate %s well %s: %s %s from %s", plate, well, source.shape, source.dtype, input_plate
        )
        wants_gpu = spec["device"] == "gpu"
        tables = {kind: [] for kind in MEASUREMENT_COLUMNS}
        with contextlib.ExitStack() as held:
            slot = held.enter_context(
                gpu_slot()
                if wants_gpu
                else contextlib.nullcontext(
                    GpuSlot("cpu", None, f"planned for the CPU: {spec['device_reason']}")
                )
            )
            _log_segment(logger, spec, slot, wants_gpu)
            device = _device_for(spec["memory_type"], slot)
            limit_library_threads(spec["memory_type"], threads)
            if device:
                held.enter_context(memory.use_device(device))
            held.enter_context(_stream(memory.MemoryType(spec["memory_type"]), device))
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
                        },
                    )
                )
                for name in spec["written"]
            }
            for field in range(source.shape[0]):
                results = process_field(
                    source, field, spec, channel_names, device, implementations, tables, logger
                )
                for name, stacks in results.items():
                    writers[name].write_field(_field_channels(well, field, name, stacks))
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
        for kind, path in measurements.items():
            frame = pd.concat(tables[kind]) if tables[kind] else None
            write_table(frame, kind, path, plate=plate, well=well)
            logger.info("wrote %d %s rows to %s", 0 if frame is None else len(frame), kind, path)
