"""The software versions a run used, for the report and provenance."""

from __future__ import annotations

import platform
import sys

import pandas as pd

from hcs_steps.plate.provenance import library_versions

PACKAGES = (
    "hcs-steps",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "numpy",
    "scipy",
    "scikit-image",
    "zarr",
    "ome-zarr",
    "pandas",
    "pyarrow",
    "matplotlib",
    "torch",
    "jax",
    "jaxlib",
    "tensorflow",
    "tensorflow-cpu",
    "pyclesperanto",
    "cupy-cuda12x",
)


def hcs_steps_version() -> str:
    """The hcs-steps version recorded in every step rule's ``params``."""
    return library_versions()["hcs-steps"] or "0+unknown"


def versions_table() -> pd.DataFrame:
    """Python, the platform and every installed package of :data:`PACKAGES`."""
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform())]
    installed = library_versions(extra=PACKAGES)
    rows += [(name, installed[name]) for name in PACKAGES if installed[name] is not None]
    return pd.DataFrame(rows, columns=["software", "version"])
