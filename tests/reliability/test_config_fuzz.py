"""Fuzzing the config loader: whatever a config file holds, the only error is ConfigError.

Configs are built from the valid demo config by replacing, deleting or adding keys at
random places with random values (hypothesis), so that every level of the schema and of
the checks after it is reached; raw text is fuzzed through load_config too.
"""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcs_steps.workflow.config import ConfigError, load_config, validate_config

VALID = {
    "plates": {"demo": {"format": "demo"}},
    "wells": ["B02"],
    "pipeline": [
        {"name": "normalize", "step": "stack_percentile_normalize", "params": {}},
        {"name": "project", "step": "max_projection"},
        {
            "name": "count",
            "step": "count_cells_single_channel",
            "channel": ["nuclei"],
            "params": {"detection_method": "watershed", "min_area": 30},
        },
    ],
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["all", "auto", "gpu", "../x", "/abs", "B02", "numpy", "cupy", "nuclei"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def places(config, prefix=()):
    """Every (path, container) in a config, to aim a mutation at."""
    yield prefix, config
    items = config.items() if isinstance(config, dict) else enumerate(config)
    for key, value in items:
        if isinstance(value, dict | list):
            yield from places(value, (*prefix, key))


@st.composite
def mutated_configs(draw):
    config = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        targets = list(places(config))
        _, container = draw(st.sampled_from(targets))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if isinstance(container, dict):
            keys = list(container)
            if action == "add" or not keys:
                key = draw(st.one_of(st.text(max_size=8), st.sampled_from(["params", "channel"])))
                container[key] = draw(values)
            else:
                key = draw(st.sampled_from(keys))
                if action == "delete":
                    del container[key]
                else:
                    container[key] = draw(values)
        elif container:
            index = draw(st.integers(0, len(container) - 1))
            if action == "delete":
                del container[index]
            else:
                container[index] = draw(values)
        else:
            container.append(draw(values))
    return config


def only_config_errors(config):
    try:
        validate_config(config)
    except ConfigError as error:
        assert str(error).startswith("config"), error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_mutated_configs_give_only_config_errors(config):
    only_config_errors(config)


@settings(max_examples=100, deadline=None)
@given(values)
def test_any_document_gives_only_config_errors(document):
    only_config_errors(document)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_file_text_gives_only_config_errors(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as error:
        assert str(path) in str(error) or str(error).startswith("config"), error


def test_the_valid_config_is_valid():
    validate_config(yaml.safe_load(yaml.safe_dump(VALID)))
