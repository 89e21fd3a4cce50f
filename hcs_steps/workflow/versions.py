"""The software versions a run used, for the report and provenance."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

import pandas as pd

PACKAGES = (
    "hcs-steps", "snakemake", "snakemake-executor-plugin-slurm", "numpy", "scipy",
    "scikit-image", "zarr", "ome-zarr", "pandas", "pyarrow", "matplotlib", "torch", "jax",
    "jaxlib", "tensorflow", "tensorflow-cpu", "pyclesperanto", "cupy-cuda12x",
)


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None``.

    Examples
    --------
    >>> package_version("numpy") is not None, package_version("no-such-package-x")
    (True, None)
    """
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def hcs_steps_version() -> str:
    """The hcs-steps version recorded in every step rule's ``params``."""
    return package_version("hcs-steps") or "0+unknown"


def versions_table() -> pd.DataFrame:
    """Python, the platform and every installed package of :data:`PACKAGES`."""
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform())]
    rows += [(name, v) for name in PACKAGES if (v := package_version(name)) is not None]
    return pd.DataFrame(rows, columns=["software", "version"])
