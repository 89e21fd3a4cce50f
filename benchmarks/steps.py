"""Time every step in every memory type usable here against its numpy reference.

The input is a 5 x 1024 x 1024 ``uint16`` stack tiled from five planes of the real nuclei
z-stack (:func:`hcs_steps.samples.nuclei_stack`), so the filters and counters see real
nuclei. ``count_cells_single_channel`` and ``segment_nuclei`` get it as the pipeline hands
it to them: percentile-normalized and top-hat filtered (by numpy, untimed). Each
implementation gets the stack already in its own library, on the device the memory layer
picks (a CUDA GPU when one is visible, so GPU rows appear on a CUDA machine). One untimed
call warms it up (compilation, caches), then the median of a few timed calls is reported,
each ending with the library's synchronisation. The numpy reference runs in the same
process, so ``vs numpy`` is a like-for-like ratio (> 1: faster than numpy).

Run ``python benchmarks/steps.py`` (``--steps tophat median`` for a subset, ``--repeats``);
results go to ``benchmarks/results/steps.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import hcs_steps.steps as steps
from hcs_steps import samples
from hcs_steps.memory import MemoryType, convert, device_of, resolve_device

RESULTS = Path(__file__).parent / "results" / "steps.json"
SHAPE = (5, 1024, 1024)
#: Parameters where the default would make the step trivially cheap.
PARAMS = {"gaussian": {"sigma": 2.0}, "median": {"radius": 2}}
#: Steps that run after background removal in a pipeline.
ON_PREPROCESSED = {"count_cells_single_channel", "segment_nuclei"}


def benchmark_stack() -> np.ndarray:
    planes = samples.nuclei_stack()[26:31]
    return np.ascontiguousarray(np.tile(planes, (1, 4, 4)))


def preprocessed(stack: np.ndarray) -> np.ndarray:
    normalize = steps.choose_implementation("stack_percentile_normalize", "numpy")[1]
    tophat = steps.choose_implementation("tophat", "numpy")[1]
    return tophat(normalize(stack))


def synchronize(result) -> None:
    """Wait until ``result`` (a stack or ``(stack, special)``) is really computed."""
    array = result[0] if isinstance(result, tuple) else result
    module = type(array).__module__
    if module.startswith("jax"):
        array.block_until_ready()
    elif module.startswith("torch") and array.is_cuda:
        import torch

        torch.cuda.synchronize()
    elif module.startswith("cupy"):
        import cupy

        cupy.cuda.Device().synchronize()
    elif module.startswith("pyclesperanto"):
        import pyclesperanto

        pyclesperanto.wait_for_kernel_to_finish()


def time_call(function, stack, params, repeats):
    synchronize(function(stack, **params))  # warm-up: compilation, caches, first import
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function(stack, **params)
        synchronize(result)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--steps", nargs="*", help="steps to time (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    # pyclesperanto before tensorflow: the other order segfaults with pocl.
    if steps.library_installed(MemoryType.PYCLESPERANTO):
        import pyclesperanto  # noqa: F401

    raw = benchmark_stack()
    inputs = {False: raw, True: preprocessed(raw)}
    device = resolve_device()
    names = args.steps or [step.name for step in steps.list_steps()]
    rows = []
    header = f"{'step':<28} {'memory type':<14} {'device':<10} {'ms':>9} {'vs numpy':>9}"
    print(f"stack {SHAPE} uint16, job device {device}, median of {args.repeats}")
    print(header)
    print("-" * len(header))
    for name in names:
        step = steps.get_step(name)
        params = PARAMS.get(name, {})
        numpy_seconds = None
        for memory_type in [MemoryType.NUMPY] + [
            t for t in step.memory_types if t is not MemoryType.NUMPY
        ]:
            if not steps.library_installed(memory_type):
                continue
            try:
                host_stack = inputs[name in ON_PREPROCESSED]
                stack = convert(host_stack, memory_type, device=device)
                seconds, result = time_call(
                    step.implementations[memory_type], stack, params, args.repeats
                )
            except Exception as error:  # a library that cannot run here (no GPU for cupy)
                print(f"{name:<28} {memory_type.value:<14} skipped: {type(error).__name__}")
                continue
            output = result[0] if isinstance(result, tuple) else result
            if memory_type is MemoryType.NUMPY:
                numpy_seconds = seconds
            ratio = numpy_seconds / seconds if numpy_seconds else None
            row = {
                "step": name,
                "memory_type": memory_type.value,
                "device": str(device_of(output)),
                "params": params,
                "seconds": round(seconds, 5),
                "numpy_seconds": round(numpy_seconds, 5) if numpy_seconds else None,
                "speedup_vs_numpy": round(ratio, 2) if ratio else None,
            }
            rows.append(row)
            device_name = row["device"] if len(row["device"]) <= 10 else row["device"][:9] + "~"
            print(
                f"{name:<28} {memory_type.value:<14} {device_name:<10} {1000 * seconds:>9.1f} "
                f"{ratio:>8.2f}x"
            )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "shape": list(SHAPE),
                "dtype": "uint16",
                "repeats": args.repeats,
                "job_device": device,
                "machine": platform.platform(),
                "processor": platform.processor(),
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
