"""`snakemake --profile profiles/slurm-gpu` gets the cluster settings, a local run the local ones.

Snakemake reads the workflow profile ``profiles/default`` on top of every ``--profile``, and
its keys win (``snakemake.cli.parse_args``). These tests parse command lines the way the
``snakemake`` command does, and run Snakemake where only a run shows the setting.
"""

from __future__ import annotations

import pytest
import yaml
from workflow_support import REPO, make_config, run_snakemake, write_config

CLUSTER = {
    "executor": "slurm",
    "jobs": 100,
    "cores": None,
    "resources": ["gpu=8"],
    "group-components": {"well": 1},
    "config": ["gpu=True"],
    "latency-wait": 60,
    "retries": 1,
    "slurm-status-command": "squeue",
    "rerun-incomplete": True,
}


def profile(name: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())


def parsed(monkeypatch, *argv: str):
    """The arguments Snakemake runs with, profiles applied, for ``snakemake *argv``."""
    from snakemake.cli import parse_args

    monkeypatch.chdir(REPO)
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    return parse_args(list(argv))[1]


def setting(args, key: str):
    value = getattr(args, key.replace("-", "_"))
    return getattr(value, "args", value)  # Snakemake's Resources -> ["gpu=8", ...]


def test_default_profile_shares_no_key_with_another_value():
    default, cluster = profile("default"), profile("slurm-gpu")
    assert {key for key in default if key in cluster and default[key] != cluster[key]} == set()
    assert "resources" not in default and "cores" not in default


@pytest.mark.parametrize("flag", ["--profile", "--workflow-profile"])
def test_slurm_gpu_profile_gives_the_cluster_settings(monkeypatch, flag):
    args = parsed(monkeypatch, flag, "profiles/slurm-gpu", "-n")
    for key, value in CLUSTER.items():
        assert setting(args, key) == value, key
    assert "slurm_partition=cpu" in setting(args, "default-resources")


def test_every_cluster_setting_survives_the_default_profile(monkeypatch):
    with_default = parsed(monkeypatch, "--profile", "profiles/slurm-gpu")
    cluster_only = parsed(monkeypatch, "--workflow-profile", "profiles/slurm-gpu")
    for key in profile("slurm-gpu"):
        assert setting(with_default, key) == setting(cluster_only, key), key


def test_a_local_run_gets_the_local_settings(monkeypatch):
    args = parsed(monkeypatch, "--cores", "2")
    assert (args.executor, args.cores, setting(args, "resources")) == (None, 2, [])
    assert args.force_use_threads and args.rerun_incomplete


@pytest.mark.parametrize("argv", [("--cores", "2"), ("--profile", "profiles/slurm-gpu", "-n")])
def test_every_run_schedules_greedily(monkeypatch, argv):
    # The ILP scheduler starts a solver each round and gains nothing without temp() files.
    assert parsed(monkeypatch, *argv).scheduler == "greedy"


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "limit"), [((), 4), (("--resources", "gpu=1"), 1)])
def test_a_local_run_limits_gpu_jobs_to_the_gpu_slots(
    tmp_path, tiny_plate, monkeypatch, extra, limit
):
    monkeypatch.setenv("HCS_STEPS_VISIBLE_GPUS", "0,1")
    monkeypatch.setenv("HCS_STEPS_JOBS_PER_GPU", "2")
    write_config(tmp_path, make_config(tiny_plate, gpu=False))
    # one well's result: a small target (the run's config copy is per plate and run now)
    result = run_snakemake(tmp_path, "results/tiny/steps/count.zarr/B/02/zarr.json", *extra)
    assert f'Provided resources: gpu=Resource("gpu", {limit})' in result.stdout + result.stderr
