"""GPU slots: distinct devices for concurrent jobs, freed when a holder crashes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from hcs_steps.workflow import gpu_slots
from hcs_steps.workflow.gpu_slots import gpu_slot, visible_gpus

HOLDER = """
import os, sys, time
from hcs_steps.workflow.gpu_slots import gpu_slot
with gpu_slot() as slot:
    print(slot.device, flush=True)
    if sys.argv[1] == "crash":
        os.kill(os.getpid(), 9)
    time.sleep(float(sys.argv[1]))
"""


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    """Pretend the listed GPUs are visible, with a private lock directory."""
    monkeypatch.setenv(gpu_slots.LOCK_DIR_ENV, str(tmp_path / "locks"))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)

    def set_visible(ids: str) -> None:
        monkeypatch.setenv(gpu_slots.VISIBLE_ENV, ids)

    return set_visible


def start_holder(mode: str) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, mode], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip().startswith("cuda:")
    return holder


def test_visible_gpus_order_of_precedence(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    monkeypatch.delenv(gpu_slots.VISIBLE_ENV, raising=False)
    assert visible_gpus() == ["4", "5"]
    monkeypatch.setenv(gpu_slots.VISIBLE_ENV, "1")
    assert visible_gpus() == ["1"]
    monkeypatch.setenv(gpu_slots.VISIBLE_ENV, "")
    assert visible_gpus() == []


def test_no_gpu_gives_the_cpu_and_says_so(fake_gpus):
    fake_gpus("")
    with gpu_slot() as slot:
        assert (slot.device, slot.gpu_id) == ("cpu", None)
        assert "no GPU" in slot.reason


def test_concurrent_threads_get_distinct_devices(fake_gpus):
    fake_gpus("0,1,2")
    barrier = threading.Barrier(3)
    devices = []

    def job():
        with gpu_slot(timeout=10) as slot:
            devices.append(slot.device)
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(devices) == ["cuda:0", "cuda:1", "cuda:2"]


def test_processes_get_distinct_devices_and_wait_when_full(fake_gpus):
    fake_gpus("0,1")
    first, second = start_holder("30"), start_holder("30")
    try:
        with pytest.raises(TimeoutError):
            with gpu_slot(timeout=0.3):
                pass
    finally:
        first.kill()
        second.kill()
        first.wait()
        second.wait()
    with gpu_slot(timeout=5) as slot:
        assert slot.device == "cuda:0"


def test_crashed_holder_frees_its_slot(fake_gpus):
    fake_gpus("7")
    holder = start_holder("crash")
    assert holder.wait(timeout=30) == -9
    started = time.monotonic()
    with gpu_slot(timeout=5) as slot:
        assert (slot.device, slot.gpu_id) == ("cuda:0", "7")
    assert time.monotonic() - started < 5


def test_thread_reentry_keeps_its_slot(fake_gpus):
    fake_gpus("0,1")
    with gpu_slot() as outer, gpu_slot(timeout=1) as inner:
        assert inner == outer


def test_slurm_jobs_lock_privately(fake_gpus, monkeypatch):
    monkeypatch.delenv(gpu_slots.LOCK_DIR_ENV)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    fake_gpus("0")
    assert gpu_slots.lock_dir().name.endswith("slurm-4242")
    with gpu_slot() as slot:
        assert slot.device == "cuda:0" and "SLURM" in slot.reason


def test_slurm_gpu_ids_without_cuda_visible_devices(monkeypatch, tmp_path):
    monkeypatch.setenv(gpu_slots.LOCK_DIR_ENV, str(tmp_path))
    for variable in (gpu_slots.VISIBLE_ENV, "CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_JOB_GPUS", "2,3")
    other = []

    def second_job():
        with gpu_slot(timeout=5) as slot:
            other.append(slot.device)

    with gpu_slot() as first:
        thread = threading.Thread(target=second_job)
        thread.start()
        thread.join()
    assert (first.device, other) == ("cuda:2", ["cuda:3"])
