"""Job logs: one file per job, without touching logging's shared logger registry."""

from __future__ import annotations

import logging
import threading

from hcs_steps.workflow.joblog import job_logger


def test_concurrent_jobs_write_their_own_logs_and_leave_the_registry_alone(tmp_path):
    before = set(logging.Logger.manager.loggerDict)
    registered = []

    def job(number):
        with job_logger(tmp_path / f"{number}.log") as logger:
            registered.append(logger.name in logging.Logger.manager.loggerDict)
            for line in range(50):
                logger.info("job %d line %d", number, line)

    threads = [threading.Thread(target=job, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registered == [False] * 8
    assert set(logging.Logger.manager.loggerDict) == before
    for number in range(8):
        lines = (tmp_path / f"{number}.log").read_text().splitlines()
        assert len(lines) == 50 and all(f"job {number} line" in line for line in lines)
