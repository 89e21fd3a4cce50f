"""The ``hcs-steps`` console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import hcs_steps.steps as steps
from hcs_steps.cli import main


def test_list_prints_every_step_with_types_and_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for step in steps.list_steps():
        assert f"{step.name}  [{', '.join(t.value for t in step.memory_types)}]" in out
    assert "selem_radius = 50, downsample_factor = 4" in out


def test_show_prints_one_step(capsys):
    assert main(["show", "tophat"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tophat\n  memory types: numpy, cupy, torch, pyclesperanto\n")
    assert "    selem_radius = 50\n" in out and "Parameters\n----------" in out


def test_show_unknown_step_fails_with_the_known_names(capsys):
    assert main(["show", "segment_cells"]) == 2
    assert "unknown step 'segment_cells'; known steps: count_cells" in capsys.readouterr().err


def test_list_and_show_load_plugins(tmp_path, monkeypatch, capsys):
    (tmp_path / "cli_lab_plugin.py").write_text(
        textwrap.dedent(
            '''
            from hcs_steps import memory
            from hcs_steps.steps import register_step

            @register_step("cli_lab_invert")
            @memory.numpy
            def invert(stack, *, maximum=255):
                """Invert an 8-bit stack."""
                return maximum - stack
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert main(["show", "cli_lab_invert", "--plugin", "cli_lab_plugin"]) == 0
        assert "maximum = 255" in capsys.readouterr().out
        assert main(["list", "--plugin", "cli_lab_plugin"]) == 0
        assert "cli_lab_invert  [numpy]" in capsys.readouterr().out
    finally:
        steps.unregister_step("cli_lab_invert")
        sys.modules.pop("cli_lab_plugin", None)


def test_plan_hands_over_to_the_workflow(monkeypatch):
    from hcs_steps.workflow import plan_cli

    seen = []
    monkeypatch.setattr(plan_cli, "main", lambda configfile: seen.append(configfile) or 3)
    assert main(["plan", "my.yaml"]) == 3
    assert main(["plan"]) == 3
    assert seen == ["my.yaml", None]


def test_no_command_is_a_usage_error():
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_installed_console_script_lists_steps():
    # The package is installed (editable) wherever tests run, so a missing or stale script is
    # a broken install: fail, never skip.
    (entry_point,) = entry_points(group="console_scripts", name="hcs-steps")
    assert entry_point.value == "hcs_steps.cli:main"
    script_dirs = dict.fromkeys([str(Path(sys.executable).parent), sysconfig.get_path("scripts")])
    script = shutil.which("hcs-steps", path=os.pathsep.join(script_dirs))
    assert script, f"no hcs-steps script in {list(script_dirs)}; run `pip install -e .`"
    result = subprocess.run([script, "list"], capture_output=True, text=True, check=True)
    assert "stack_percentile_normalize  [numpy, torch, cupy, jax]" in result.stdout


def test_listing_into_a_closed_pipe_exits_cleanly():
    # `hcs-steps list | head -0`: the reader is gone before the listing is printed (the
    # lister is still importing), so its first write meets a closed pipe.
    script = [sys.executable, "-c", "import sys; from hcs_steps.cli import main; sys.exit(main())"]
    lister = subprocess.Popen([*script, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lister.stdout.close()
    stderr = lister.stderr.read().decode()
    assert lister.wait(timeout=60) == 0
    assert "BrokenPipeError" not in stderr
