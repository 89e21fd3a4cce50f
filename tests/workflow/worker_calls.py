"""Module-level functions for tests/workflow/test_worker_processes.py to run in worker
processes (a worker imports what it runs by module name)."""

from __future__ import annotations

import os
import signal
import sys
import time


def process_id(*, pause: float = 0.0) -> int:
    time.sleep(pause)
    return os.getpid()


def loaded_modules(*, names: list[str]) -> list[str]:
    """The ``names`` that this process has imported already."""
    return [name for name in names if name in sys.modules]


def import_then_report(*, name: str) -> int:
    __import__(name)
    return os.getpid()


def fail_with(*, message: str):
    raise KeyError(message)


class Unpicklable(Exception):
    def __init__(self, message, handle):
        super().__init__(message)
        self.handle = handle


def fail_unpicklably(*, message: str):
    raise Unpicklable(message, lambda: None)


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def allocate(*, mib: int, seconds: float) -> None:
    """Touch ``mib`` MiB, then keep a core busy for ``seconds``."""
    block = bytearray(mib * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass
