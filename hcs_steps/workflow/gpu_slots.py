"""Give each running GPU job its own device.

Snakemake's ``gpu`` resource is only a counter on a local machine and sets no
``CUDA_VISIBLE_DEVICES`` (snakemake#281). So a GPU-typed job takes a *slot*: an exclusive
``flock`` on one lock file per device (``HCS_STEPS_JOBS_PER_GPU`` slots per device,
default 1). ``flock`` locks belong to an open file, so two threads of one Snakemake
process (``run:`` rules with ``--force-use-threads``) exclude each other just like two
processes do, and the kernel drops the lock when its holder exits or crashes: no stale
slots to clean up.

Visible devices, first match wins:

1. ``HCS_STEPS_VISIBLE_GPUS`` (comma-separated ids; ``""`` means none) - tests and
   users who want to restrict hcs-steps to some GPUs;
2. ``CUDA_VISIBLE_DEVICES`` (also what SLURM sets for a job's allocation);
3. in a SLURM job without it, ``SLURM_STEP_GPUS`` or ``SLURM_JOB_GPUS`` (node GPU numbers);
4. the NVIDIA driver's ``/proc/driver/nvidia/gpus`` entries.

Under SLURM the lock directory is private to the job, since the same in-job ordinal
(``0``) names a different physical GPU in each job.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

VISIBLE_ENV = "HCS_STEPS_VISIBLE_GPUS"
LOCK_DIR_ENV = "HCS_STEPS_GPU_LOCK_DIR"
JOBS_PER_GPU_ENV = "HCS_STEPS_JOBS_PER_GPU"
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")

_held = threading.local()


@dataclass(frozen=True)
class GpuSlot:
    """The device a job runs on and how it was decided.

    ``device`` is what the memory system takes (``"cuda:1"`` or ``"cpu"``); ``gpu_id`` is
    the id in the visible-devices list (``None`` on CPU); ``reason`` is one log line.
    """

    device: str
    gpu_id: str | None
    reason: str


def _parse_ids(text: str) -> list[str]:
    """Device ids from a comma-separated list; ``-1`` or ``NoDevFiles`` mean none.

    Examples
    --------
    >>> _parse_ids("0, 2"), _parse_ids(""), _parse_ids("-1"), _parse_ids("NoDevFiles")
    (['0', '2'], [], [], [])
    """
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids or ids[0] in {"-1", "NoDevFiles"}:
        return []
    return ids


def _visible() -> tuple[list[str], bool]:
    """Visible GPU ids, and whether CUDA numbers them by their position in that list."""
    for variable in (VISIBLE_ENV, "CUDA_VISIBLE_DEVICES"):
        if variable in os.environ:
            return _parse_ids(os.environ[variable]), True
    for variable in ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        if variable in os.environ:  # no CUDA_VISIBLE_DEVICES: CUDA sees the node's GPUs
            return _parse_ids(os.environ[variable]), False
    if NVIDIA_PROC.is_dir():
        return [str(i) for i in range(len(list(NVIDIA_PROC.iterdir())))], True
    return [], True


def visible_gpus() -> list[str]:
    """Ids of the GPUs this process may use, without importing any GPU library.

    Examples
    --------
    >>> import os
    >>> os.environ[VISIBLE_ENV] = "3,5"
    >>> visible_gpus()
    ['3', '5']
    >>> del os.environ[VISIBLE_ENV]
    """
    return _visible()[0]


def jobs_per_gpu() -> int:
    """How many jobs may share one GPU (``HCS_STEPS_JOBS_PER_GPU``, default 1)."""
    return max(1, int(os.environ.get(JOBS_PER_GPU_ENV, "1")))


def slot_count() -> int:
    """GPU jobs that can run at once here: visible GPUs x jobs per GPU (0 without a GPU).

    A local run uses it as Snakemake's ``gpu`` limit, so that no GPU job waits for a slot.

    Examples
    --------
    >>> import os
    >>> os.environ[VISIBLE_ENV], os.environ[JOBS_PER_GPU_ENV] = "0,1", "2"
    >>> slot_count()
    4
    >>> del os.environ[VISIBLE_ENV], os.environ[JOBS_PER_GPU_ENV]
    """
    return len(visible_gpus()) * jobs_per_gpu()


def in_slurm_job() -> bool:
    """True inside a SLURM job (where SLURM, not hcs-steps, chose the GPUs)."""
    return "SLURM_JOB_ID" in os.environ


def lock_dir() -> Path:
    """Where slot lock files live (``HCS_STEPS_GPU_LOCK_DIR`` overrides)."""
    if LOCK_DIR_ENV in os.environ:
        path = Path(os.environ[LOCK_DIR_ENV])
    else:
        scope = f"slurm-{os.environ['SLURM_JOB_ID']}" if in_slurm_job() else "local"
        path = Path(tempfile.gettempdir()) / f"hcs-steps-gpu-{os.getuid()}-{scope}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _try_lock(path: Path):
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} thread {threading.get_ident()}\n")
    handle.flush()
    return handle


@contextmanager
def gpu_slot(timeout: float | None = None, poll: float = 0.1) -> Iterator[GpuSlot]:
    """Hold a free GPU slot for the duration of the ``with`` block.

    Yields a CPU "slot" at once when no GPU is visible. Waits (polling every ``poll``
    seconds) while every slot is taken; raises ``TimeoutError`` after ``timeout`` seconds.
    A thread that already holds a slot gets the same one again.
    """
    held = getattr(_held, "slot", None)
    if held is not None:
        yield held
        return
    ids, positional = _visible()
    if not ids:
        yield GpuSlot("cpu", None, "no GPU visible: running on the CPU")
        return
    per_gpu = jobs_per_gpu()
    where = "assigned by SLURM" if in_slurm_job() else "visible"
    directory = lock_dir()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for slot in range(per_gpu):
            for index, gpu_id in enumerate(ids):
                handle = _try_lock(directory / f"gpu-{gpu_id}.slot{slot}.lock")
                if handle is None:
                    continue
                device = f"cuda:{index if positional else gpu_id}"
                chosen = GpuSlot(
                    device,
                    gpu_id,
                    f"GPU {gpu_id} ({device}) of {len(ids)} {where} GPU(s) [{','.join(ids)}]",
                )
                _held.slot = chosen
                try:
                    yield chosen
                finally:
                    _held.slot = None
                    handle.close()
                return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"all {len(ids) * per_gpu} GPU slots stayed busy for {timeout} s")
        time.sleep(poll)
