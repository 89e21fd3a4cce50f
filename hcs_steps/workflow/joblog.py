"""One log file per job, also when jobs share a process (``run:`` rules in threads).

Redirecting ``sys.stdout`` would mix the jobs of concurrent threads, so each job gets its own
logger, writing only to that job's ``log:`` file; a failure's traceback goes there too.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from pathlib import Path


@contextlib.contextmanager
def job_logger(path: str | Path | None):
    """A logger writing to ``path`` only, for the ``with`` block; ``None`` discards.

    Examples
    --------
    >>> import tempfile
    >>> log = tempfile.mkdtemp() + "/job.log"
    >>> with job_logger(log) as logger:
    ...     logger.info("wrote well %s", "B03")
    >>> open(log).read().split(" INFO ")[1].strip()
    'wrote well B03'
    """
    # A logger of its own, outside logging's registry: registering (getLogger) and removing
    # one per job would change the shared registry while other jobs' threads use it.
    logger = logging.Logger(f"hcs_steps.job.{uuid.uuid4().hex}", logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(path, mode="w") if path else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        yield logger
    except Exception:
        logger.exception("job failed")
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
