"""Promotion writes a combination's values into the config file and keeps the rest of it."""

from __future__ import annotations

import difflib

from workflow_support import REPO

from hcs_steps.workflow.promote import promote

COMMENTED = """\
# My screen
plates:
  demo:
    format: demo   # built in

pipeline:
  - name: tophat
    step: tophat
    params:
      selem_radius: 30  # px
      # the next step counts
  - name: project
    step: max_projection
  - name: count
    step: count_cells_single_channel
    channel: [nuclei]
    # watershed splits touching nuclei

fuse: true
"""


def test_values_land_in_params_and_every_comment_stays_in_place(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(COMMENTED)
    values = {"tophat.selem_radius": 20, "tophat.downsample_factor": 2, "count.min_area": 60}
    changes = promote(path, values)
    assert changes == [
        "tophat.selem_radius: 30 -> 20",
        "tophat.downsample_factor: (step default) -> 2",
        "count.min_area: (step default) -> 60",
    ]
    expected = COMMENTED.replace("selem_radius: 30  # px\n", "selem_radius: 20  # px\n")
    expected = expected.replace("# px\n", "# px\n      downsample_factor: 2\n")
    expected = expected.replace(
        "count_cells_single_channel\n",
        "count_cells_single_channel\n    params:\n      min_area: 60\n",
    )
    assert path.read_text() == expected
    assert promote(path, values) == [] and path.read_text() == expected  # nothing left to do


def test_the_demo_config_changes_only_in_the_promoted_lines(tmp_path):
    original = (REPO / "config" / "config.yaml").read_text()
    path = tmp_path / "config.yaml"
    path.write_text(original)
    promote(path, {"tophat.selem_radius": 20, "count.min_area": 60})
    diff = [
        line
        for line in difflib.unified_diff(original.splitlines(), path.read_text().splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == ["-      selem_radius: 30", "+      selem_radius: 20", "+      min_area: 60"]


def test_pyyaml_style_files_keep_their_indentation(tmp_path):
    text = (
        "pipeline:\n- name: count\n  step: count_cells_single_channel\n"
        "  params:\n    min_area: 20\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text)
    promote(path, {"count.min_area": 60})
    assert path.read_text() == text.replace("20", "60")
