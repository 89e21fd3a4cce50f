"""The plan: segments of one memory type and device, conversions, resources, the CLI."""

from __future__ import annotations

import pytest
import yaml

from hcs_steps.workflow import plan_cli
from hcs_steps.workflow.config import ConfigError, validate_config
from hcs_steps.workflow.plan import build_plan


def configured(pipeline, **extra) -> dict:
    config = {"plates": {"demo": {"format": "demo"}}, "pipeline": pipeline, **extra}
    return validate_config(config)


PIPELINE = [
    {"name": "normalize", "step": "stack_percentile_normalize", "backend": "torch"},
    {"name": "tophat", "step": "tophat", "backend": "torch"},
    {"name": "smooth", "step": "gaussian", "backend": "numpy"},
    {"name": "count", "step": "count_cells_single_channel", "backend": "numpy"},
    {"name": "project", "step": "max_projection", "backend": "jax"},
]


def test_consecutive_same_type_steps_fuse():
    plan = build_plan(configured(PIPELINE, gpu=False))
    assert [s.name for s in plan.segments] == ["normalize_to_tophat", "smooth_to_count", "project"]
    assert [s.memory_type for s in plan.segments] == ["torch", "numpy", "jax"]
    assert [s.written for s in plan.segments] == [("tophat",), ("count",), ("project",)]
    assert [(c.source, c.target) for c in plan.conversions] == [
        ("tophat", "smooth"),
        ("count", "project"),
    ]
    assert "torch@cpu -> numpy@cpu" in plan.conversions[0].describe()


def test_fuse_false_gives_one_segment_per_step():
    plan = build_plan(configured(PIPELINE, gpu=False, fuse=False))
    assert [s.rule_name for s in plan.segments] == [f"segment_{p['name']}" for p in PIPELINE]
    assert "no type change" in plan.conversions[0].describe()


def test_keep_writes_intermediates():
    plan = build_plan(configured(PIPELINE, gpu=False, keep=["normalize"]))
    assert plan.segments[0].written == ("normalize", "tophat")
    everything = build_plan(configured(PIPELINE, gpu=False, keep="all"))
    assert [name for s in everything.segments for name in s.written] == [
        p["name"] for p in PIPELINE
    ]


def test_device_splits_segments_and_sets_gpu_resources():
    pipeline = [dict(p) for p in PIPELINE[:3]]
    pipeline[1]["device"] = "cpu"
    plan = build_plan(configured(pipeline, gpu=True, gpu_resources={"slurm_partition": "gpu"}))
    assert [(s.memory_type, s.device) for s in plan.segments] == [
        ("torch", "gpu"),
        ("torch", "cpu"),
        ("numpy", "cpu"),
    ]
    assert plan.segments[0].resources == {"gpu": 1, "slurm_partition": "gpu"}
    # a well's group job runs in one partition, so its CPU segments go there too
    assert plan.segments[1].resources == {"gpu": 0, "slurm_partition": "gpu"}
    assert [s.spec()["device_reason"] for s in plan.segments] == [
        "gpu: true in the config",
        "device: cpu in the config",
        "numpy runs on the CPU only",
    ]
    cpu_only = build_plan(configured(pipeline, gpu=False, gpu_resources={"slurm_partition": "gpu"}))
    assert [s.resources for s in cpu_only.segments] == [{"gpu": 0}] * 2


def test_auto_backend_says_why(monkeypatch):
    monkeypatch.setenv("HCS_STEPS_VISIBLE_GPUS", "")
    plan = build_plan(configured([{"name": "smooth", "step": "gaussian"}]))
    step = plan.steps[0]
    assert (step.memory_type, step.device) == ("numpy", "cpu")
    assert step.reason.startswith("auto (no GPU in use")
    assert not plan.use_gpu


def test_auto_with_a_visible_gpu_prefers_a_gpu_library(monkeypatch):
    monkeypatch.setenv("HCS_STEPS_VISIBLE_GPUS", "0")
    plan = build_plan(configured([{"name": "smooth", "step": "gaussian"}]))
    assert plan.use_gpu and plan.steps[0].device == "gpu"
    assert plan.steps[0].memory_type != "numpy"


def test_cupy_without_a_gpu_is_refused():
    with pytest.raises(ConfigError, match=r"pipeline\[0\].backend: cupy runs on a GPU only"):
        build_plan(
            configured([{"name": "m", "step": "max_projection", "backend": "cupy"}], gpu=False)
        )


def test_parameters_in_the_spec_include_defaults():
    plan = build_plan(configured(PIPELINE[2:3], gpu=False))
    assert plan.segments[0].spec()["steps"][0]["params"] == {"sigma": 1.0}


def test_plan_cli_prints_steps_segments_conversions_resources(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"plates": {"demo": {"format": "demo"}}, "pipeline": PIPELINE, "gpu": False})
    )
    assert plan_cli.main(str(path)) == 0
    out = capsys.readouterr().out
    assert "1. normalize: stack_percentile_normalize as torch on cpu [configured]" in out
    assert "segment_normalize_to_tophat: normalize -> tophat [torch on cpu]" in out
    # the rules that exist: the last segment's job writes the well's tables, no rule of
    # their own
    [last] = [line for line in out.splitlines() if line.startswith("  segment_project:")]
    assert "then the well's tables" in last, last
    assert out.count("then the well's tables") == 1 and "well_tables" not in out
    assert "resources: gpu=0" in out
    assert "tophat -> smooth: torch@cpu -> numpy@cpu" in out
    assert "plate demo: demo, 6 well(s)" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plates: {demo: {format: demo}}\npipeline: [{name: s, step: nope}]\n", "pipeline[0].step"),
        (
            "plates: {demo: {format: demo}}\npipeline: [{name: s, step: gaussian}]\n"
            "channels: [DAPI]\n",
            "channels[0]",
        ),
        (
            "plates: {demo: {format: demo}}\npipeline: [{name: s, step: gaussian}]\n"
            "wells: [B02, Q99]\n",
            "wells[1]",
        ),
        (
            "plates: {demo: {format: demo}}\npipeline: [{name: s, step: gaussian}]\nwells: [A01]\n",
            "wells[0]: no well 'A01'",
        ),
    ],
)
def test_plan_cli_refuses_invalid_configs(tmp_path, capsys, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert plan_cli.main(str(path)) == 2
    assert message in capsys.readouterr().err


def test_plan_cli_reads_the_default_config(monkeypatch, capsys):
    from workflow_support import REPO

    monkeypatch.chdir(REPO)
    assert plan_cli.main(None) == 0
    assert "segment_" in capsys.readouterr().out
