"""Fixtures of the workflow tests (helpers live in ``workflow_support``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_support import build_tiny_plate


@pytest.fixture(scope="session")
def tiny_plate(tmp_path_factory) -> Path:
    """A three-well OME-Zarr plate shared by the tests that only read it."""
    path = tmp_path_factory.mktemp("plates") / "tiny.zarr"
    build_tiny_plate(path)
    return path
