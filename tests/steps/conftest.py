"""Fixtures of the step tests: crops of the real nuclei images."""

from __future__ import annotations

import numpy as np
import pytest

from hcs_steps import samples


@pytest.fixture(scope="session")
def nuclei_crop() -> np.ndarray:
    """Three planes (3 x 96 x 112 uint16) from the middle of the real nuclei stack."""
    return samples.nuclei_stack()[28:31, 80:176, 60:172].copy()


@pytest.fixture(scope="session")
def nuclei_projection() -> np.ndarray:
    """The max projection (1 x 256 x 256 uint16) of the real nuclei stack: 20 true nuclei."""
    return samples.nuclei_stack().max(axis=0, keepdims=True)
