"""Run the workflow through a real SLURM cluster (tests/slurm/start-slurm.sh) and read back
what SLURM did.

The test profile is ``profiles/slurm-gpu`` with only the lines a site changes changed: no
account (the test cluster has no accounting), resources that fit the one small node, and
the plugin's first status check after 2 s instead of 40 s so that a test does not idle.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import time
from pathlib import Path

import workflow_support
import yaml

REPO = Path(__file__).resolve().parents[2]
SLURM_ENV = "HCS_STEPS_TEST_SLURM"
#: No test run may take longer: a hanging status loop fails the test instead of CI.
RUN_TIMEOUT = 240


def cluster_problem() -> str | None:
    """Why no SLURM cluster can take jobs here, or None when one can."""
    try:
        result = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10
        )
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return f"sinfo: {exc}"
    if result.returncode != 0:
        return f"sinfo failed: {result.stderr.strip()}"
    states = set(result.stdout.split())
    if not states & {"idle", "mixed", "allocated"}:
        return f"no node takes jobs (sinfo states: {sorted(states) or 'none'})"
    return None


def write_test_profile(directory: Path) -> Path:
    """``profiles/slurm-gpu`` adapted to the test cluster, as a profile directory."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm-gpu" / "config.yaml").read_text())
    resources = profile["default-resources"]
    del resources["slurm_account"]  # SITE line: the test cluster has no accounts
    resources.update(mem_mb=1000, cpus_per_task=1)  # the node has 2 CPUs
    profile["slurm-init-seconds-before-status-checks"] = 2
    # Keep every job's SLURM log, so that tests can read what each job printed.
    profile["slurm-keep-successful-logs"] = True
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


def snakemake_command(workdir: Path, profile: Path, *args: str) -> list[str]:
    """The workflow tests' Snakemake command line, through the cluster ``profile``."""
    return workflow_support.snakemake_command(workdir, "--profile", str(profile), *args)


PYTHON_STARTS_ENV = "HCS_STEPS_TEST_PYTHON_STARTS"
#: Records each Python start; it imports nothing else, so it costs microseconds.
PYTHON_STARTS_HOOK = f"""
import os, sys
if "{PYTHON_STARTS_ENV}" in os.environ:
    with open(os.environ["{PYTHON_STARTS_ENV}"], "a") as record:
        record.write(repr(sys.argv) + "\\n")
"""


def counting_environment(hook: Path, record: Path) -> dict[str, str]:
    """A job environment in which every Python started appends its ``sys.argv`` to ``record``.

    A ``sitecustomize`` first on ``PYTHONPATH``, which sbatch and srun pass on to the jobs.
    """
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(PYTHON_STARTS_HOOK)
    return job_environment(PYTHONPATH=str(hook), **{PYTHON_STARTS_ENV: str(record)})


def recorded_starts(record: Path) -> list[list[str]]:
    return [ast.literal_eval(line) for line in record.read_text().splitlines()]


def starts_of(well: str, starts: list[list[str]]) -> list[list[str]]:
    """The Python starts of Snakemakes whose ``--target-jobs`` name ``well`` (``B02``)."""
    row, column = re.fullmatch(r"([A-Z]+)(\d+)", well).groups()
    mark = f"row={row},column={column}"
    return [argv for argv in starts if "--target-jobs" in argv and mark in " ".join(argv)]


def starts_of_rule(rule: str, starts: list[list[str]]) -> list[list[str]]:
    """The Python starts of Snakemakes whose ``--target-jobs`` name ``rule``: a batch's rule
    (``well_batch_<plate>_<first>_<last>``) is its own, so these are its job's starts."""
    return [argv for argv in starts if "--target-jobs" in argv and f"{rule}:" in " ".join(argv)]


def job_environment(**extra: str) -> dict[str, str]:
    """The environment of the run, which sbatch passes on to every job (--export=ALL).

    Without HCS_STEPS_VISIBLE_GPUS (which the local workflow tests set to none), so that a
    job sees the GPUs SLURM gave it.
    """
    env = {k: v for k, v in os.environ.items() if k != "HCS_STEPS_VISIBLE_GPUS"}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), extra.pop("PYTHONPATH", None), env.get("PYTHONPATH")])
    )
    env.update(extra)
    return env


def run_on_slurm(
    workdir: Path,
    profile: Path,
    *args: str,
    env: dict | None = None,
    timeout: float = RUN_TIMEOUT,
) -> subprocess.CompletedProcess:
    """``snakemake --profile <profile>`` on the repository's Snakefile, with a time bound."""
    return subprocess.run(
        snakemake_command(workdir, profile, *args),
        capture_output=True,
        text=True,
        env=env or job_environment(),
        timeout=timeout,
    )


def output_of(result) -> str:
    return result.stdout + result.stderr


def submitted_jobs(output: str) -> list[str]:
    """SLURM job ids in the order Snakemake submitted them."""
    return re.findall(r"submitted with SLURM jobid (\d+)", output)


def job_info(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (finished jobs stay there for MinJobAge seconds)."""
    result = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True
    )
    return dict(
        field.split("=", 1) for field in result.stdout.split() if "=" in field and field[0] != "="
    )


def slurm_time(text: str) -> float:
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


def wait_for_state(job_id: str, state: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if job_info(job_id).get("JobState") == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"SLURM job {job_id} not {state} after {timeout} s: {job_info(job_id)}")
