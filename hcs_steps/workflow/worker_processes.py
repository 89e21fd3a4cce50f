"""Run the per-well jobs of a local run in worker processes that last the whole run.

Snakemake runs ``run:`` blocks in threads of its own process (``profiles/default``:
``force-use-threads``), so that torch, jax or tensorflow are imported once per run rather
than once per job. But those threads share one GIL with each other and with Snakemake's
scheduler thread, and a job's Python between its numpy and torch calls holds it: on 2 cores,
96 wells took as long in two job threads as one after another (benchmarks/RESULTS.md). So
with more than one core a job's work goes to a worker process instead:

- at most ``cores`` workers, each started on first need and kept until Snakemake exits, so
  each imports its libraries once; a job waits for its result in its thread, without the GIL;
- started by ``forkserver``, not by ``fork`` of Snakemake's process, which has threads
  (forking it could copy a lock some thread holds) and may hold a CUDA context (a forked one
  is unusable): a fresh single-threaded server process imports hcs-steps and the plan's
  libraries once (``preload``) and forks each worker from itself, so N workers pay one
  import (torch: 1.2 s of CPU; on a 32-core node 32 would be 40 s) and share those pages;
- one worker runs one job at a time, and each worker is its own one-process executor: a
  worker that dies (killed for memory, a crash in native code) fails only the job it ran,
  with a message naming it, and the next job gets a new worker.

What a worker runs must be a module-level function of picklable arguments (paths, params,
plain data). GPU jobs take their device slot inside the function (``gpu_slots``: a ``flock``
excludes processes as it excludes threads), so a worker serves CPU and GPU jobs alike.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import queue
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import forkserver, spawn

from hcs_steps.workflow.job_usage import measured

_start_lock = threading.Lock()


@contextmanager
def _main_module_left_out():
    """Start a process without the preparation data telling it to import the parent's
    ``__main__``. multiprocessing has each new process run the parent's main script
    again (as ``__mp_main__``) so that what it defines can be unpickled; the functions a
    worker runs live in modules, and a script that drives Snakemake without an
    ``if __name__ == "__main__"`` guard would start a second Snakemake in every worker."""
    with _start_lock:
        prepare = spawn.get_preparation_data

        def without_main(name):
            data = prepare(name)
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
            return data

        spawn.get_preparation_data = without_main
        try:
            yield
        finally:
            spawn.get_preparation_data = prepare


def _start_fork_server() -> None:
    """Start the fork server with this process's ``sys.path`` as its ``PYTHONPATH``.

    The server imports its preload modules before it hears of the parent's ``sys.path``
    (Python 3.11 passes it but does not apply it), so without this it would import
    hcs-steps from wherever a plain interpreter finds it (an installed copy) while
    Snakemake's process uses the one beside the Snakefile, and its workers would run
    other code than the run planned with.
    """
    with _start_lock:
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(entry for entry in sys.path if entry)
        try:
            forkserver.ensure_running()
        finally:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved


class _WorkerProcess(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj):
        with _main_module_left_out():
            return multiprocessing.context.ForkServerProcess._Popen(process_obj)


class _WorkerContext(multiprocessing.context.ForkServerContext):
    Process = _WorkerProcess


class WorkerDied(RuntimeError):
    """The worker process running a job ended before the job did."""


class WorkerError(RuntimeError):
    """An exception a worker raised that could not be sent back as itself (not picklable);
    its message keeps the original type, message and traceback."""


def _end_with(pid: int) -> None:
    """A worker's initializer: exit as soon as process ``pid`` (Snakemake's) has ended, even
    by SIGKILL. A worker left behind would go on writing a well that the next run redoes,
    and nothing else ends it: it holds both ends of its own task pipe, and the fork server
    (its parent) lives as long as its workers do."""

    def watch() -> None:
        try:
            handle = os.pidfd_open(pid)  # Linux 5.3+: readable once the process has ended
        except (AttributeError, OSError):
            while _alive(pid):
                time.sleep(1.0)
        else:
            select.select([handle], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="hcs-steps-watch-snakemake", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _call(function: Callable, kwargs: dict, usage_file: str | None):
    """A worker's side of a job: the function's result and the job's :class:`JobUsage`
    (also written to ``usage_file`` unless None), or an exception the job's thread can
    re-raise (the original one when it survives pickling).
    """
    try:
        with measured(peak=True) as usage:
            result = function(**kwargs)
        if usage_file is not None:
            usage.write(usage_file)
        return result, usage
    except BaseException as error:
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:
            text = "".join(traceback.format_exception(error))
            raise WorkerError(f"{type(error).__name__}: {error}\n{text}") from None
        raise


class WorkerProcesses:
    """Up to ``size`` worker processes; :meth:`run` runs one call in an idle one.

    ``preload``: modules the fork server imports before it forks any worker. Only modules
    that start no threads and touch no device when imported belong there (numpy, torch,
    scikit-image do not; tensorflow starts threads), since the workers are forks of it.
    """

    def __init__(self, size: int, preload: tuple[str, ...] = ()):
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, not {size}")
        self.size = size
        self.preload = tuple(preload)
        self._context = _WorkerContext()
        self._context.set_forkserver_preload(list(self.preload))
        self._idle: queue.LifoQueue = queue.LifoQueue()  # warm workers first
        self._lock = threading.Lock()
        self._workers: list[ProcessPoolExecutor] = []

    def run(self, function: Callable, /, *, job: str, usage_file: str | None = None, **kwargs):
        """``function(**kwargs)`` in a worker: its result and the job's :class:`JobUsage`,
        which the worker also writes to ``usage_file`` unless None (its write and fsync are
        then not Snakemake's process's work). ``job`` names the job if the worker dies."""
        worker = self._take()
        try:
            return worker.submit(_call, function, kwargs, usage_file).result()
        except BrokenProcessPool:
            self._discard(worker)
            worker = None
            raise WorkerDied(
                f"{job}: its worker process ended before it did (killed, e.g. for using too "
                "much memory, or crashed in native code); the job's log says how far it got. "
                "Rerun to retry it; if it dies again, give it more memory or run with "
                "--cores 1 to see the error in Snakemake's own process."
            ) from None
        finally:
            if worker is not None:
                self._idle.put(worker)

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop every worker (idle ones exit at once; busy ones after their job), and with
        ``wait`` return once they have exited."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.shutdown(wait=wait, cancel_futures=True)

    def _take(self) -> ProcessPoolExecutor:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if not self._workers:
                _start_fork_server()
            if len(self._workers) < self.size:
                worker = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=self._context,
                    initializer=_end_with,
                    initargs=(os.getpid(),),
                )
                self._workers.append(worker)
                return worker
        return self._idle.get()

    def _discard(self, worker: ProcessPoolExecutor) -> None:
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
        worker.shutdown(wait=False, cancel_futures=True)


def preload_for(memory_types) -> tuple[str, ...]:
    """What the fork server imports for a plan of ``memory_types``: the segment runner and
    every library of the plan whose adapter declares its import safe to fork."""
    from hcs_steps.memory.adapters import adapter_for

    libraries = {adapter_for(kind) for kind in memory_types}
    modules = sorted(adapter.module for adapter in libraries if adapter.fork_safe_import)
    return ("hcs_steps.workflow.run_segment", "hcs_steps.steps", *modules)


_pool: WorkerProcesses | None = None
_pool_lock = threading.Lock()


def worker_pool(size: int, preload: tuple[str, ...] = ()) -> WorkerProcesses:
    """The process's pool of ``size`` workers, made on first use and stopped at exit."""
    global _pool
    with _pool_lock:
        if _pool is None or (_pool.size, _pool.preload) != (size, tuple(preload)):
            if _pool is not None:
                _pool.shutdown()
            _pool = WorkerProcesses(size, preload)
            atexit.register(_end_of_run, _pool)
        return _pool


def _end_of_run(pool: WorkerProcesses) -> None:
    """At exit: wait for the workers (idle by then: Snakemake waits for its jobs), then stop
    the fork server and reap it, so that it is not left behind and the workers' CPU time
    reaches Snakemake's process's children's (``getrusage``, ``time``). ``_stop`` is how the
    standard library's tests end the server: it closes the server's pipe and waits for it.

    The server is sent SIGTERM first. Told by its pipe alone it exits as a Python program,
    tearing down the libraries it preloaded (torch): 0.7 s at the end of every run, with
    nothing left for it to do once the workers have exited and it has reaped them. It sets
    no SIGTERM handler, so the signal ends it at once; it has no files open for writing."""
    pool.shutdown(wait=True)
    server = forkserver._forkserver
    pid = getattr(server, "_forkserver_pid", None)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    stop = getattr(server, "_stop", None)
    if stop is not None:
        try:
            stop()
        except OSError:
            pass
