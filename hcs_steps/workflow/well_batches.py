"""Several wells' chains in one cluster job, at once: the body of the ``well_batch`` rules.

A SLURM job costs two Python starts before any image work (the job's Snakemake and the one
its jobstep runs the rule in; ``docs/workflow.md``, "What a well costs on SLURM"). A job of
N wells shares them: 2/N starts per well. The wells run side by side, each in a thread of
its own (GPU-typed ones each on their own GPU slot, :mod:`hcs_steps.workflow.gpu_slots`),
so the job uses the N wells' CPUs, memory and GPUs it asks for (:func:`batch_resources`)
while they run, rather than one well's at a time.

Each well runs :func:`~hcs_steps.workflow.well_chain.run_well_chain`, as the one-well
``well_chain`` rule does, so a batch writes what the rules per stage write.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

#: Resources that add up over wells that run at once (a job holds all of them together).
#: ``runtime`` is not among them: the wells run side by side, so the job lasts as long as
#: its longest well, which the per-well runtime already allows for.
SUMMED_RESOURCES = ("cpus_per_task", "mem_mb", "mem_mib", "disk_mb", "disk_mib", "gpu")


class WellBatchError(RuntimeError):
    """Some wells of a batch failed; the message has each one's WellChainError message."""

    def __init__(self, message: str, failed: set[str]):
        super().__init__(message)
        self.failed = failed


def well_batches(wells: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """The selected wells, in plate order, cut into consecutive batches of ``size``.

    Only the selection and the size decide a batch, so a rerun forms the same batches
    and a failed batch is the same wells again.

    Examples
    --------
    >>> well_batches(["B02", "B03", "C02", "C03", "D02"], 2)
    [('B02', 'B03'), ('C02', 'C03'), ('D02',)]
    """
    if size < 1:
        raise ValueError(f"cluster.wells_per_job must be at least 1, not {size}")
    return [tuple(wells[start : start + size]) for start in range(0, len(wells), size)]


def batch_name(wells: Sequence[str]) -> str:
    """The batch's first and last well, which name it among a plate's batches.

    Examples
    --------
    >>> batch_name(("B02", "B03", "C02")), batch_name(("D02",))
    ('B02-C02', 'D02')
    """
    return wells[0] if len(wells) == 1 else f"{wells[0]}-{wells[-1]}"


@dataclass(frozen=True)
class WellBatch:
    """Wells of one plate that one cluster job runs together."""

    plate: str
    wells: tuple[str, ...]

    @property
    def name(self) -> str:
        return batch_name(self.wells)

    @property
    def rule_name(self) -> str:
        """A rule name (an identifier) made of the plate's and the batch's names."""
        return re.sub(r"\W", "_", f"well_batch_{self.plate}_{self.name}")


def plate_batches(wells_of_plates: Mapping[str, Sequence[str]], size: int) -> list[WellBatch]:
    """Every plate's batches (:func:`well_batches`), plate by plate.

    Examples
    --------
    >>> [b.rule_name for b in plate_batches({"p-1": ["B02", "B03", "C02"]}, 2)]
    ['well_batch_p_1_B02_B03', 'well_batch_p_1_C02']
    """
    batches = [
        WellBatch(plate, wells)
        for plate, selected in wells_of_plates.items()
        for wells in well_batches(list(selected), size)
    ]
    names = [batch.rule_name for batch in batches]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(
            f"plates whose names differ only in characters other than letters, digits and"
            f" _ give their batches the same rule names ({', '.join(clashes)}): rename one"
        )
    return batches


def batch_resources(per_well: dict, wells: int) -> dict:
    """What a job of ``wells`` wells at once asks for, from what one well asks for.

    Examples
    --------
    >>> batch_resources({"cpus_per_task": 2, "mem_mb": 8000, "gpu": 1, "runtime": 30,
    ...                  "slurm_partition": "gpu"}, 4)
    {'cpus_per_task': 8, 'mem_mb': 32000, 'gpu': 4, 'runtime': 30, 'slurm_partition': 'gpu'}
    """
    return {
        name: value * wells
        if name in SUMMED_RESOURCES and isinstance(value, int | float)
        else value
        for name, value in per_well.items()
    }


def plain_number(value) -> int | float | None:
    """A resource's value as a number, if it is one or the text of one (else None).

    Examples
    --------
    >>> [plain_number(value) for value in (8000, "2.5", "2*input.size_mb", "gpu")]
    [8000, 2.5, None, None]
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = ast.literal_eval(str(value).strip())
    except (ValueError, SyntaxError):
        return None
    return number if isinstance(number, int | float) and not isinstance(number, bool) else None


def threads_per_well(job_cpus: int, wells: int) -> int:
    """The cores each well's libraries may use: the job's cores shared out, at least one.

    Examples
    --------
    >>> threads_per_well(8, 4), threads_per_well(2, 4)
    (2, 1)
    """
    return max(1, job_cpus // wells)


def run_well_batch(chains: dict[str, Callable[[], None]]) -> None:
    """Run each well's chain (well -> a call of ``run_well_chain``) at once, one thread each.

    Every well runs to its end, so the wells that succeed are written even when another
    fails; then the batch fails naming each failed well (its ``WellChainError`` message:
    plate, well, stage and log), and the error's ``failed`` holds their names.
    """
    if not chains:
        return
    with ThreadPoolExecutor(max_workers=len(chains), thread_name_prefix="well") as pool:
        futures = {well: pool.submit(chain) for well, chain in chains.items()}
    failures = {well: future.exception() for well, future in futures.items()}
    failures = {well: failure for well, failure in failures.items() if failure is not None}
    if failures:
        raise WellBatchError(
            f"{len(failures)} of {len(chains)} wells of the batch failed: "
            + "; ".join(str(failure) for failure in failures.values()),
            set(failures),
        ) from next(iter(failures.values()))
