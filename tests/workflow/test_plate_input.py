"""A resolved plate opens its source once: jobs reuse what resolving the config opened."""

from __future__ import annotations

from workflow_support import make_config

import hcs_steps.plate.sources as plate_sources
from hcs_steps.workflow.config import validate_config
from hcs_steps.workflow.sources import resolve_plates


def test_jobs_reuse_the_source_opened_when_resolving(tiny_plate, monkeypatch):
    opened = []
    original = plate_sources.open_source

    def counting(*args, **kwargs):
        opened.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(plate_sources, "open_source", counting)
    plate = resolve_plates(validate_config(make_config(tiny_plate)))["tiny"]
    assert len(opened) == 1
    sources = {id(plate.open()) for _ in plate.wells}
    assert len(opened) == 1 and len(sources) == 1
    assert plate.open().wells == ["B02", "B03", "C02"]
