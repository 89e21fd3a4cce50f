"""The registry, the parameter checks, the choice of implementation and user plugins."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import hcs_steps.steps as steps
from hcs_steps.memory import MemoryType

ALL_TYPES = {t for t in MemoryType if t is not MemoryType.UNKNOWN}
BUILTIN = {
    "stack_percentile_normalize": {"numpy", "torch", "cupy", "jax"},
    "tophat": {"numpy", "cupy", "torch", "pyclesperanto"},
    "gaussian": {"numpy", "pyclesperanto", "torch", "tensorflow", "jax"},
    "median": {"numpy", "pyclesperanto", "torch", "tensorflow", "jax"},
    "max_projection": {t.value for t in ALL_TYPES},
    "mean_projection": {t.value for t in ALL_TYPES},
    "count_cells_single_channel": {"numpy", "torch"},
    "segment_nuclei": {"numpy", "torch"},
    # Steps that read every channel run on the host in any segment (scikit-image's
    # definitions; a GPU version waits for a measurement that shows it pays).
    "measure_objects": {"numpy"},
    "grow_cells": {"numpy"},
    # Field QC measures and passes the stack through: one FFT per plane, on the host.
    "field_qc": {"numpy"},
    # A division by the plate's flat field: cheap, so numpy and torch (on its GPU).
    "flatfield_correct": {"numpy", "torch"},
}
HOST_ONLY_MEASUREMENTS = {"field_qc"}


def test_builtin_steps_and_their_memory_types():
    listed = {step.name: {t.value for t in step.memory_types} for step in steps.list_steps()}
    assert {name: listed[name] for name in BUILTIN} == BUILTIN
    assert all(
        len(types) >= 2
        for name, types in listed.items()
        if not steps.get_step(name).reads_channels and name not in HOST_ONLY_MEASUREMENTS
    )
    assert set().union(*(set(step.memory_types) for step in steps.list_steps())) >= ALL_TYPES


def test_every_implementation_declares_its_memory_type_and_documents_itself():
    for step in steps.list_steps():
        for memory_type, function in step.implementations.items():
            assert function.input_memory_type is memory_type
            assert function.__doc__ and "Examples" in function.__doc__, function.__name__


def test_step_definition_parameters_come_from_the_signature():
    tophat = steps.get_step("tophat")
    assert list(tophat.parameters) == ["selem_radius", "downsample_factor"]
    assert tophat.defaults() == {"selem_radius": 50, "downsample_factor": 4}
    assert tophat.summary.startswith("Subtract each plane's background")
    assert "Parameters" in tophat.doc
    assert steps.get_step("max_projection").parameters == {}


@pytest.mark.parametrize("name", ["nope", "hcs_steps.steps.filters.gaussian_numpy", ""])
def test_unknown_and_dotted_names_are_refused(name):
    with pytest.raises(steps.UnknownStepError, match="known steps: count_cells_single") as info:
        steps.get_step(name)
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("step", "params", "message"),
    [
        ("tophat", {"selem_radius": -5}, "'tophat': parameter 'selem_radius'"),
        ("tophat", {"downsample_factor": 1.5}, "parameter 'downsample_factor'"),
        ("median", {"radius": -1}, "'median': parameter 'radius'"),
        ("gaussian", {"sigma": 0}, "'gaussian': parameter 'sigma'"),
        ("gaussian", {"sigma": "big"}, "parameter 'sigma' must be a number"),
        (
            "stack_percentile_normalize",
            {"low_percentile": 99, "high_percentile": 1},
            "parameter 'low_percentile' must be below high_percentile",
        ),
        (
            "stack_percentile_normalize",
            {"target_min": 10, "target_max": 70000},
            "parameter 'target_max'",
        ),
        (
            "count_cells_single_channel",
            {"detection_method": "magic"},
            "'count_cells_single_channel': parameter 'detection_method' must be one of",
        ),
        ("count_cells_single_channel", {"return_labels": "yes"}, "'return_labels'"),
        ("segment_nuclei", {"method": "blob_log"}, "'segment_nuclei': parameter 'method'"),
        ("segment_nuclei", {"min_area": -1}, "parameter 'min_area'"),
        ("gaussian", {"sigma": 1, "radius": 2}, "'gaussian': unknown parameter 'radius'"),
    ],
)
def test_validate_parameters_refuses_bad_values(step, params, message):
    with pytest.raises(ValueError, match=message):
        steps.validate_parameters(step, params)


def test_validate_parameters_fills_defaults():
    full = steps.validate_parameters("count_cells_single_channel", {"detection_method": "blob_dog"})
    assert full["detection_method"] == "blob_dog"
    assert full["min_area"] == steps.get_step("count_cells_single_channel").defaults()["min_area"]


def test_choose_named_backend():
    memory_type, function = steps.choose_implementation("gaussian", "jax")
    assert memory_type is MemoryType.JAX and function.__name__ == "gaussian_jax"


@pytest.mark.parametrize(
    ("backend", "message"),
    [("tensorflow", "has no 'tensorflow' implementation; it has numpy"), ("mxnet", "unknown")],
)
def test_choose_refuses_backends_the_step_lacks(backend, message):
    with pytest.raises(ValueError, match=message):
        steps.choose_implementation("tophat", backend)


def test_choose_refuses_a_library_that_is_not_installed(monkeypatch):
    monkeypatch.setattr(steps.dispatch, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match="needs the 'torch' package"):
        steps.choose_implementation("tophat", "torch")


def test_auto_without_gpu_prefers_numpy():
    for step in steps.list_steps():
        memory_type, _ = steps.choose_implementation(step.name, gpu_available=False)
        assert memory_type is MemoryType.NUMPY


def test_auto_with_gpu_prefers_a_gpu_library(monkeypatch):
    installed = {"numpy", "torch", "pyclesperanto"}  # as on a machine without cupy
    monkeypatch.setattr(steps.dispatch, "find_spec", lambda name: name in installed or None)
    assert steps.choose_implementation("tophat", gpu_available=True)[0] is MemoryType.TORCH
    assert steps.choose_implementation("median", gpu_available=True)[0] is MemoryType.TORCH
    installed.add("cupy")
    assert steps.choose_implementation("tophat", gpu_available=True)[0] is MemoryType.CUPY


def test_auto_asks_the_memory_layer_for_the_device(monkeypatch):
    monkeypatch.setattr(steps.dispatch, "resolve_device", lambda: "cpu")
    assert steps.choose_implementation("tophat")[0] is MemoryType.NUMPY


def test_auto_without_any_usable_implementation(monkeypatch):
    monkeypatch.setattr(steps.dispatch, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match="no implementation usable here"):
        steps.choose_implementation("gaussian", gpu_available=False)


PLUGIN = '''
"""A user's plugin: one step in two memory types."""
from hcs_steps import memory
from hcs_steps.steps import register_step


def _check(params):
    if params["factor"] < 0:
        raise ValueError("step 'lab_scale': parameter 'factor' must be >= 0")


@register_step("lab_scale", check=_check)
@memory.numpy
def lab_scale_numpy(stack, *, factor=2):
    """Multiply by ``factor``."""
    return stack * factor


@register_step("lab_scale")
@memory.torch
def lab_scale_torch(stack, *, factor=2):
    """Multiply by ``factor`` with torch."""
    return stack * factor
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    package = tmp_path / "mylab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mylab.steps"
    steps.unregister_step("lab_scale")
    for name in ("mylab.steps", "mylab"):
        sys.modules.pop(name, None)


def test_plugin_steps_join_the_registry(plugin_module):
    import numpy as np

    with pytest.raises(steps.UnknownStepError):
        steps.get_step("lab_scale")
    assert steps.load_plugins([plugin_module]) == ["lab_scale"]
    step = steps.get_step("lab_scale")
    assert step.memory_types == [MemoryType.NUMPY, MemoryType.TORCH]
    assert steps.validate_parameters("lab_scale", {}) == {"factor": 2}
    with pytest.raises(ValueError, match="'lab_scale': parameter 'factor'"):
        steps.validate_parameters("lab_scale", {"factor": -1})
    memory_type, function = steps.choose_implementation("lab_scale", gpu_available=False)
    assert memory_type is MemoryType.NUMPY
    assert function(np.ones((1, 2, 2), np.uint8), factor=3).tolist() == [[[3, 3], [3, 3]]]
    assert steps.load_plugins([plugin_module]) == []  # a second load adds nothing


@pytest.mark.parametrize("bad", ["mylab.steps; import os", "../mylab", "os.system('ls')", 3])
def test_plugins_must_be_module_names(bad):
    with pytest.raises(ValueError, match="is not a module name"):
        steps.load_plugins([bad])


def test_missing_plugin_module_is_named():
    with pytest.raises(ModuleNotFoundError, match="plugin module 'no_such_lab.steps'"):
        steps.load_plugins(["no_such_lab.steps"])


def test_register_needs_a_memory_decorator():
    def plain(stack):
        return stack

    with pytest.raises(TypeError, match="has no memory type"):
        steps.register_step("plain")(plain)
    with pytest.raises(steps.UnknownStepError):
        steps.get_step("plain")


def test_register_refuses_mismatched_parameters_and_duplicates():
    from hcs_steps import memory

    @steps.register_step("lab_pair")
    @memory.numpy
    def first(stack, *, size=1):
        return stack

    try:
        with pytest.raises(TypeError, match="takes \\['other'\\], the others take \\['size'\\]"):

            @steps.register_step("lab_pair")
            @memory.torch
            def second(stack, *, other=1):
                return stack

        with pytest.raises(ValueError, match="already has a numpy implementation"):

            @steps.register_step("lab_pair")
            @memory.numpy
            def third(stack, *, size=1):
                return stack

        with pytest.raises(ValueError, match="identifier-like"):
            steps.register_step("lab.pair")
    finally:
        steps.unregister_step("lab_pair")


def test_importing_the_steps_imports_no_array_library():
    heavy = ["torch", "jax", "tensorflow", "cupy", "pyclesperanto", "skimage"]
    code = (
        "import sys, hcs_steps.steps as s; s.list_steps(); s.validate_parameters('tophat', {});"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
