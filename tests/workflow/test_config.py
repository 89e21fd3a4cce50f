"""Config validation: defaults filled in, invalid configs refused with the key path."""

from __future__ import annotations

import copy

import pytest

from hcs_steps.workflow.config import ConfigError, load_config, validate_config

BASE = {
    "plates": {"p": {"path": "plate.zarr", "format": "ome-zarr"}},
    "pipeline": [
        {"name": "smooth", "step": "gaussian", "params": {"sigma": 2}},
        {"name": "count", "step": "count_cells_single_channel", "channel": ["nuclei"]},
    ],
}


def config_with(change) -> dict:
    config = copy.deepcopy(BASE)
    change(config)
    return config


def test_defaults_are_filled_in():
    config = validate_config(copy.deepcopy(BASE))
    assert config["wells"] == "all" and config["channels"] == "all"
    assert config["fuse"] is True and config["keep"] == [] and config["gpu"] == "auto"
    assert config["plates"]["p"]["missing"] == "error"
    first = config["pipeline"][0]
    assert (first["backend"], first["device"], first["channel"]) == ("auto", "auto", "all")
    assert config["pipeline"][1]["params"] == {}


def test_demo_plate_needs_no_path():
    config = config_with(lambda c: c["plates"].update(d={"format": "demo"}))
    validate_config(config)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda c: c.update(colour="red"), "<top level>", "colour"),
        (lambda c: c.pop("pipeline"), "<top level>", "pipeline"),
        (lambda c: c["plates"]["p"].update(format="tiff"), "plates.p.format", "tiff"),
        (lambda c: c["plates"]["p"].pop("path"), "plates.p", "path"),
        (lambda c: c.update(wells=["B3", "../x"]), "wells[1]", "../x"),
        (lambda c: c["pipeline"][1].update(backend="numba"), "pipeline[1].backend", "numba"),
        (lambda c: c["pipeline"][0].update(name="a b"), "pipeline[0].name", "a b"),
        (lambda c: c["pipeline"][0]["params"].update(sigma="wide"), "pipeline[0].params", "sigma"),
        (lambda c: c["pipeline"][0]["params"].update(radius=3), "pipeline[0].params", "radius"),
        (
            lambda c: c["pipeline"][1].update(step="count_everything"),
            "pipeline[1].step",
            "count_everything",
        ),
        (lambda c: c["pipeline"][1].update(name="smooth"), "pipeline[1].name", "twice"),
        (lambda c: c.update(keep=["smoothed"]), "keep[0]", "smoothed"),
        (lambda c: c["pipeline"][1].update(backend="jax"), "pipeline[1].backend", "jax"),
        (lambda c: c.update(fuse="yes"), "fuse", "boolean"),
        (lambda c: c.update(plugins=["no_such_lab.steps"]), "plugins[0]", "no_such_lab"),
    ],
)
def test_invalid_configs_name_the_key(change, key, words):
    with pytest.raises(ConfigError) as caught:
        validate_config(config_with(change))
    message = str(caught.value)
    assert message.startswith(f"config key {key}:"), message
    assert words in message


def test_load_config_reads_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("plates: {p: {format: demo}}\npipeline: [{name: m, step: max_projection}]\n")
    assert load_config(path)["pipeline"][0]["backend"] == "auto"


def test_a_gpu_only_plugin_step_with_auto_is_judged_for_the_planned_machine():
    import hcs_steps.memory as memory
    from hcs_steps.steps import register_step, unregister_step

    @register_step("test_cupy_only_invert")
    @memory.cupy
    def invert(stack):
        return -stack

    def cupy_step(gpu):
        def change(config):
            config["pipeline"][0] = {"name": "invert", "step": "test_cupy_only_invert"}
            config["gpu"] = gpu

        return config_with(change)

    try:
        validate_config(cupy_step(True))  # a GPU run: auto picks cupy
        with pytest.raises(ConfigError, match=r"pipeline\[0\].backend: .*no implementation"):
            validate_config(cupy_step(False))
    finally:
        unregister_step("test_cupy_only_invert")


def test_a_projection_restricted_to_some_channels_is_refused_at_validation():
    def project_nuclei_only(config):
        config["pipeline"].insert(
            0, {"name": "project", "step": "max_projection", "channel": ["nuclei"]}
        )

    with pytest.raises(ConfigError, match=r"pipeline\[0\].channel: step 'max_projection' changes"):
        validate_config(config_with(project_nuclei_only))
