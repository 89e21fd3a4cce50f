"""What one job used, measured where it ran: wall and CPU time and its peak memory.

A local segment job records this itself (``results/<plate>/benchmarks/<rule>/<well>.tsv``)
instead of through Snakemake's ``benchmark:``, whose sampler reads the memory maps of the
whole process tree for every job and measures the process, not the job (docs/workflow.md).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class JobUsage:
    """What one job used: wall and CPU seconds, and its peak resident memory in MiB (None
    where it cannot be told apart from other jobs': in a thread of a shared process)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    max_rss_mib: float | None = None

    def write(self, path: str) -> None:
        """A TSV of the job's usage at ``path``, atomically; the columns are those of a
        Snakemake benchmark file that mean the same (``s``, ``cpu_time``, ``max_rss`` in
        MB), measured for the job alone rather than for the process running it."""
        from hcs_steps.plate.atomic import write_file_atomically

        rss = "NA" if self.max_rss_mib is None else f"{self.max_rss_mib * 2**20 / 1e6:.2f}"
        text = f"s\tcpu_time\tmax_rss\n{self.seconds:.4f}\t{self.cpu_seconds:.4f}\t{rss}\n"
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(Path(path), text.encode())


@contextmanager
def measured(*, peak: bool):
    """Measure the block as a job: wall time, CPU time (the process's with ``peak``, when
    the process runs nothing else; else the thread's) and, with ``peak``, the process's
    peak resident memory during the block (Linux: the high-water mark is reset first)."""
    usage = JobUsage()
    if peak:
        _reset_peak_rss()
    clock = time.process_time if peak else time.thread_time
    start, cpu = time.perf_counter(), clock()
    yield usage
    usage.seconds, usage.cpu_seconds = time.perf_counter() - start, clock() - cpu
    if peak:
        usage.max_rss_mib = _peak_rss_mib()


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current resident size
    except OSError:
        pass


def _peak_rss_mib() -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None
