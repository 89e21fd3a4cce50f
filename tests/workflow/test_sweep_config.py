"""The sweep block: combinations, their names and digests, and every bad sweep refused."""

from __future__ import annotations

import pytest
from workflow_support import make_config

from hcs_steps.workflow.config import ConfigError, validate_config
from hcs_steps.workflow.plan import build_plan
from hcs_steps.workflow.plan_cli import format_sweep
from hcs_steps.workflow.sources import resolve_plates
from hcs_steps.workflow.sweep import chain_digests
from hcs_steps.workflow.sweep_config import plan_sweep

GRID = {"count.min_area": [20, 40], "count.smoothing_sigma": [1.0, 1.5]}


def planned(tiny_plate, sweep, **extra):
    config = validate_config(make_config(tiny_plate, fuse=False, sweep=sweep, **extra))
    plan = build_plan(config)
    return plan, plan_sweep(config, plan, resolve_plates(config))


def test_no_sweep_block_plans_nothing(tiny_plate):
    config = validate_config(make_config(tiny_plate))
    assert "sweep" not in config
    assert plan_sweep(config, build_plan(config), resolve_plates(config)) is None


def test_a_grid_is_every_combination_with_stable_readable_names(tiny_plate):
    _, sweep = planned(tiny_plate, {"params": GRID})
    assert [c.name for c in sweep.combinations] == [
        "min_area-20_smoothing_sigma-1.0",
        "min_area-20_smoothing_sigma-1.5",
        "min_area-40_smoothing_sigma-1.0",
        "min_area-40_smoothing_sigma-1.5",
    ]
    assert sweep.keys == ("count.min_area", "count.smoothing_sigma")
    assert sweep.combinations[3].values == {"count.min_area": 40, "count.smoothing_sigma": 1.5}
    # the same config plans the same digests (they address results across runs)
    assert [c.chains for c in planned(tiny_plate, {"params": GRID})[1].combinations] == [
        c.chains for c in sweep.combinations
    ]
    assert sweep.wells == {"tiny": ("B02", "B03", "C02")}  # default: the plate's wells


def test_segments_before_the_swept_step_are_shared_with_the_plain_run(tiny_plate):
    plan, sweep = planned(tiny_plate, {"params": GRID})
    plain = chain_digests(plan)
    for combination in sweep.combinations:
        assert combination.chains[:2] == plain[:2] and combination.plain[:2] == (True, True)
    # the pipeline's own values (min_area 20, sigma 1.0) are the plain run's result
    assert [c.plain[2] for c in sweep.combinations] == [True, False, False, False]
    assert len(sweep.chains(2)) == 3 and sweep.chains(0) == []
    text = format_sweep(sweep, plan)
    assert "segment_normalize: 0 sweep result(s) and the plain run's result for 4" in text
    assert "segment_count: 3 sweep result(s) and the plain run's result for 1" in text
    assert "normalize: plain, smooth: plain, count: " + sweep.combinations[1].chains[2] in text


def test_sweeping_an_early_step_changes_every_later_digest(tiny_plate):
    _, sweep = planned(tiny_plate, {"params": {"smooth.sigma": [1.0, 2.0]}, "wells": ["B3"]})
    first, second = sweep.combinations
    assert first.plain == (True, True, True)
    assert second.plain == (True, False, False)
    assert sweep.wells == {"tiny": ("B03",)}


def test_an_explicit_list_fills_unset_keys_with_the_pipeline_values(tiny_plate):
    combinations = [{"count.min_area": 40}, {"smooth.sigma": 2.0}]
    _, sweep = planned(tiny_plate, {"combinations": combinations})
    assert [c.values for c in sweep.combinations] == [
        {"count.min_area": 40, "smooth.sigma": 1.0},
        {"count.min_area": 20, "smooth.sigma": 2.0},
    ]
    assert [c.name for c in sweep.combinations] == [
        "min_area-40_sigma-1.0",
        "min_area-20_sigma-2.0",
    ]


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"params": {"cnt.min_area": [1]}}, "sweep.params.cnt.min_area: no pipeline entry 'cnt'"),
        (
            {"params": {"count.min_arae": [1]}},
            "sweep.params.count.min_arae: step 'count_cells_single_channel' (pipeline entry "
            "'count') has no parameter 'min_arae'",
        ),
        ({"params": {"count.min_area": []}}, "sweep.params.count.min_area: [] should be non-empty"),
        ({"params": {"count.min_area": [20, -5]}}, "sweep.params.count.min_area[1]: step 'count"),
        ({"params": {"count.min_area": [20, 20]}}, "sweep.params.count.min_area[1]: value 20 is"),
        (
            {"combinations": [{"count.min_area": 40}, {"count.min_area": 40}]},
            "sweep.combinations[1]: the same values as an earlier combination",
        ),
        (
            {"combinations": [{"count.min_area": 20}, {"smooth.sigma": 1.0}]},
            "sweep.combinations[1]: the same values",  # both are the pipeline's own values
        ),
        (
            {"params": {"count.min_area": [1, 2, 3], "smooth.sigma": [1, 2, 3]}},
            "sweep.params: 3 x 3 = 9 combinations, more than sweep.max_combinations (8)",
        ),
        ({"params": GRID, "wells": ["B02", "H12"]}, "sweep.wells[1]: no well 'H12' on plate tiny"),
        ({"params": GRID, "combinations": [{"count.min_area": 1}]}, "sweep: give either params"),
        ({"max_combinations": 2}, "sweep: give either params"),
        ({"params": {"min_area": [1]}}, "sweep.params: 'min_area' does not match"),
        (
            {
                "params": {
                    "normalize.low_percentile": [1.0, 99.9],
                    "normalize.high_percentile": [99.5],
                }
            },
            "sweep.params.normalize.low_percentile[1]: step 'stack_percentile_normalize'",
        ),
        (  # each value passes alone; one combination of them does not
            {
                "params": {
                    "normalize.low_percentile": [1.0, 50.0],
                    "normalize.high_percentile": [99.5, 40.0],
                }
            },
            "sweep.params: combination normalize.low_percentile=50.0, "
            "normalize.high_percentile=40.0: step",
        ),
    ],
)
def test_a_bad_sweep_is_refused_with_its_key_path(tiny_plate, sweep, message):
    sweep.setdefault("max_combinations", 8)
    with pytest.raises(ConfigError) as refused:
        planned(tiny_plate, sweep)
    assert f"config key {message}" in str(refused.value)


def test_hcs_steps_plan_prints_the_combinations(tiny_plate, tmp_path, capsys):
    from workflow_support import write_config

    from hcs_steps.cli import main

    path = write_config(tmp_path, make_config(tiny_plate, fuse=False, sweep={"params": GRID}))
    assert main(["plan", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "sweep: 4 combination(s) of count.min_area, count.smoothing_sigma" in printed
    assert (
        "min_area-40_smoothing_sigma-1.5: count.min_area=40, count.smoothing_sigma=1.5" in printed
    )
    assert "segment_smooth: 0 sweep result(s) and the plain run's result for 4" in printed


def test_clean_lists_only_what_the_sweep_no_longer_uses(tiny_plate, tmp_path):
    from hcs_steps.workflow.sweep_cli import unreferenced

    _, sweep = planned(tiny_plate, {"params": GRID})
    folder = tmp_path / "results" / "tiny" / "sweep"
    used = [sweep.combinations[0].name, "plots", "combinations.csv", "summary.csv"]
    used += [f"chains/{chain}" for chain in sweep.chains(2)]
    old = ["min_area-70_smoothing_sigma-1.0", "chains/0123456789ab", ".summary.csv.1234.tmp"]
    for name in used + old:
        (folder / name).mkdir(parents=True)
    (tmp_path / "results" / "tiny" / "steps" / "count.zarr").mkdir(parents=True)
    stale = unreferenced(["tiny"], sweep, root=tmp_path)
    assert sorted(str(p.relative_to(folder)) for p in stale) == sorted(old)
    # without a sweep block every sweep result is stale, the plain run's never
    assert unreferenced(["tiny"], None, root=tmp_path) == [folder]


def test_pick_names_the_combinations_when_given_another(tiny_plate, tmp_path, capsys):
    from workflow_support import write_config

    from hcs_steps.cli import main

    path = write_config(tmp_path, make_config(tiny_plate, sweep={"params": GRID}))
    before = path.read_text()
    assert main(["sweep", "pick", "min_area-30", str(path)]) == 2
    error = capsys.readouterr().err
    assert (
        "no sweep combination 'min_area-30'; the sweep has min_area-20_smoothing_sigma-1.0" in error
    )
    plain = write_config(tmp_path / "plain", make_config(tiny_plate))
    assert main(["sweep", "pick", "min_area-20_smoothing_sigma-1.0", str(plain)]) == 2
    assert "the config has no sweep block to pick from" in capsys.readouterr().err
    assert path.read_text() == before
