"""Benchmark host conversions and decorator overhead, with arraybridge side by side.

For float32 stacks of 1, 64 and 512 MiB this times every ordered pair of host-capable
libraries (numpy, torch, jax, tensorflow, pyclesperanto) and reports each conversion as
a ratio to ``np.copy`` of the same bytes in the same run, plus whether the result shares
the source's buffer. It then times a decorated no-op against a direct call. When
arraybridge is installed it runs the same cases through arraybridge.

Run ``python benchmarks/conversion.py`` (``--sizes 1 64`` skips the 512 MiB case);
results go to ``benchmarks/results/conversion.json``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import itertools
import json
import platform
import statistics
import time
import timeit
from pathlib import Path

import numpy as np

import hcs_steps.memory as memory
from hcs_steps.buffers import aligned_empty
from hcs_steps.memory import convert, detect_memory_type
from hcs_steps.memory.adapters import adapter_for

# pyclesperanto before tensorflow (the other order segfaults, tensorflow#119254), through
# its adapter, which gives it pip's CPU OpenCL device where the machine has no driver.
adapter_for("pyclesperanto").lib()

HOST_TYPES = ("numpy", "torch", "jax", "tensorflow", "pyclesperanto")
ZERO_COPY_TARGET = {"numpy", "torch", "jax", "tensorflow"}
RESULTS = Path(__file__).parent / "results" / "conversion.json"


def data_pointer(x):
    kind = detect_memory_type(x).value
    if kind == "numpy":
        return x.ctypes.data
    if kind == "torch":
        return x.data_ptr()
    if kind == "jax":
        return x.unsafe_buffer_pointer()
    if kind == "tensorflow":
        return np.asarray(x).ctypes.data
    return None


def median_time(func, budget_s=0.3, min_runs=3, max_runs=50):
    """Median wall time of ``func()``, repeated until ``budget_s`` or ``max_runs``."""
    times, start = [], time.perf_counter()
    while len(times) < max_runs and (
        len(times) < min_runs or time.perf_counter() - start < budget_s
    ):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
        del result
    return statistics.median(times)


def stack_of(mib):
    stack = aligned_empty((mib, 512, 512), np.float32)  # 512 * 512 * 4 bytes = 1 MiB
    stack[...] = np.random.default_rng(0).random((1, 512, 512), np.float32)
    return stack


def bench_conversions(sizes, arraybridge):
    rows, copy_times = [], {}
    for mib in sizes:
        original = stack_of(mib)
        copy_s = median_time(lambda a=original: np.copy(a))
        copy_times[mib] = copy_s
        sources = {name: convert(original, name) for name in HOST_TYPES}
        for source, target in itertools.permutations(HOST_TYPES, 2):
            data = sources[source]
            row = {"size_mib": mib, "source": source, "target": target}
            ours = convert(data, target)
            row["hcs_steps_zero_copy"] = _shares(data, ours)
            del ours
            row["hcs_steps_s"] = median_time(lambda d=data, t=target: convert(d, t))
            row["hcs_steps_ratio"] = row["hcs_steps_s"] / copy_s
            if arraybridge is not None:
                row.update(_bench_arraybridge(arraybridge, data, source, target, copy_s))
            rows.append(row)
            gc.collect()
        del sources, original
        gc.collect()
    return rows, copy_times


def _bench_arraybridge(arraybridge, data, source, target, copy_s):
    def run():
        return arraybridge.convert_memory(data, source, target, arraybridge.HOST)

    try:
        zero_copy = _shares(data, run())
    except arraybridge.MemoryConversionError as exc:  # e.g. no pyclesperanto "host" device
        return {"arraybridge_error": str(exc).splitlines()[0]}
    seconds = median_time(run)
    return {
        "arraybridge_zero_copy": zero_copy,
        "arraybridge_s": seconds,
        "arraybridge_ratio": seconds / copy_s,
    }


def _shares(source, result):
    a, b = data_pointer(source), data_pointer(result)
    return a is not None and a == b


def per_call_us(func, arg, number=20000):
    return min(timeit.repeat(lambda: func(arg), number=number, repeat=5)) / number * 1e6


def bench_overhead(arraybridge):
    def noop(stack):
        return stack

    results = {}
    for name in ("numpy", "torch"):
        stack = convert(np.ones((2, 8, 8), np.float32), name)
        direct = per_call_us(noop, stack)
        entry = {"direct_us": direct}
        entry["hcs_steps_us"] = per_call_us(getattr(memory, name)(noop), stack)
        entry["hcs_steps_overhead_us"] = entry["hcs_steps_us"] - direct
        if arraybridge is not None:
            entry["arraybridge_us"] = per_call_us(getattr(arraybridge, name)(noop), stack)
            entry["arraybridge_overhead_us"] = entry["arraybridge_us"] - direct
        results[name] = entry
    return results


def check_targets(rows, overhead):
    at_64 = [
        r for r in rows if r["size_mib"] == 64 and {r["source"], r["target"]} <= ZERO_COPY_TARGET
    ]
    targets = {
        "zero_copy_pairs_ratio_below_0.01_at_64MiB": bool(at_64)
        and all(r["hcs_steps_ratio"] < 0.01 and r["hcs_steps_zero_copy"] for r in at_64),
        "decorator_overhead_below_5us": all(
            entry["hcs_steps_overhead_us"] < 5 for entry in overhead.values()
        ),
    }
    if all("arraybridge_overhead_us" in entry for entry in overhead.values()):
        targets["decorator_overhead_at_most_half_of_arraybridge"] = all(
            entry["hcs_steps_overhead_us"] <= 0.5 * entry["arraybridge_overhead_us"]
            for entry in overhead.values()
        )
    return targets


def print_table(rows, copy_times, overhead, targets):
    with_ab = any("arraybridge_s" in r or "arraybridge_error" in r for r in rows)
    header = f"{'MiB':>4} {'source':>13} -> {'target':<13} {'hcs ratio':>10} {'shared':>6}"
    if with_ab:
        header += f" {'ab ratio':>10} {'shared':>6}"
    for mib, copy_s in copy_times.items():
        print(f"\n{mib} MiB float32: np.copy = {copy_s * 1e3:.3f} ms")
        print(header)
        for r in (r for r in rows if r["size_mib"] == mib):
            line = (
                f"{mib:>4} {r['source']:>13} -> {r['target']:<13} "
                f"{r['hcs_steps_ratio']:>10.4f} {str(r['hcs_steps_zero_copy']):>6}"
            )
            if with_ab and "arraybridge_ratio" in r:
                line += f" {r['arraybridge_ratio']:>10.4f} {str(r['arraybridge_zero_copy']):>6}"
            elif with_ab:
                line += f" {'error':>10}"
            print(line)
    print("\nper-call time of a no-op on a (2, 8, 8) float32 stack, microseconds")
    for name, entry in overhead.items():
        print(f"  {name:>6}: " + ", ".join(f"{k}={v:.2f}" for k, v in entry.items()))
    print("\ntargets:", json.dumps(targets, indent=2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 512], help="MiB")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-arraybridge", action="store_true")
    args = parser.parse_args(argv)

    arraybridge = None
    if not args.no_arraybridge and importlib.util.find_spec("arraybridge"):
        import arraybridge

    rows, copy_times = bench_conversions(args.sizes, arraybridge)
    overhead = bench_overhead(arraybridge)
    targets = check_targets(rows, overhead)
    print_table(rows, copy_times, overhead, targets)

    versions = {}
    for name in ("numpy", "torch", "jax", "tensorflow", "pyclesperanto", "arraybridge"):
        if importlib.util.find_spec(name):
            versions[name] = getattr(importlib.import_module(name), "__version__", "?")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "machine": {"platform": platform.platform(), "python": platform.python_version()},
                "versions": versions,
                "np_copy_s": {str(k): v for k, v in copy_times.items()},
                "conversions": rows,
                "decorated_noop": overhead,
                "targets": targets,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
