"""pyclesperanto's OpenCL device: pip's pocl when nothing else is registered, else the driver.

The subprocess tests start a fresh Python, because the OpenCL loader reads its variables
once per process, when pyclesperanto first loads OpenCL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from hcs_steps.memory.adapters import opencl_icd

pytestmark = pytest.mark.usefixtures("clean_loader_environment")


@pytest.fixture
def clean_loader_environment(monkeypatch, tmp_path):
    # setenv first, so that teardown also removes a variable the code under test sets.
    for name in (*opencl_icd.LOADER_VARIABLES, "CONDA_PREFIX"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def no_system_drivers(monkeypatch, tmp_path):
    empty = tmp_path / "vendors"
    empty.mkdir()
    monkeypatch.setattr(opencl_icd, "SYSTEM_VENDOR_DIRS", (str(empty),))


def run_python(script: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_pip_pocl_is_used_when_no_driver_is_registered(monkeypatch, tmp_path):
    library = opencl_icd.bundled_pocl()
    if library is None:
        pytest.skip("pocl-binary-distribution is not installed (x86-64 Linux only)")
    no_system_drivers(monkeypatch, tmp_path)
    directory = opencl_icd.use_bundled_pocl_if_no_driver()
    assert directory == os.environ["OCL_ICD_VENDORS"]
    (icd,) = os.listdir(directory)
    assert icd.endswith(".icd")
    with open(os.path.join(directory, icd)) as file:
        assert file.read().strip() == str(library)
    assert directory.startswith(str(tmp_path / "cache"))


def test_a_registered_driver_wins(monkeypatch, tmp_path):
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    (vendors / "nvidia.icd").write_text("libnvidia-opencl.so.1\n")
    monkeypatch.setattr(opencl_icd, "SYSTEM_VENDOR_DIRS", (str(vendors),))
    assert opencl_icd.use_bundled_pocl_if_no_driver() is None
    assert "OCL_ICD_VENDORS" not in os.environ


def test_a_conda_environment_driver_wins(monkeypatch, tmp_path):
    no_system_drivers(monkeypatch, tmp_path)
    vendors = tmp_path / "env" / "etc" / "OpenCL" / "vendors"
    vendors.mkdir(parents=True)
    (vendors / "pocl.icd").write_text("libpocl.so.2\n")
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "env"))
    assert opencl_icd.use_bundled_pocl_if_no_driver() is None


@pytest.mark.parametrize("variable", opencl_icd.LOADER_VARIABLES)
def test_the_users_loader_variables_win(monkeypatch, tmp_path, variable):
    no_system_drivers(monkeypatch, tmp_path)
    monkeypatch.setenv(variable, str(tmp_path / "mine"))
    assert opencl_icd.use_bundled_pocl_if_no_driver() is None
    assert os.environ[variable] == str(tmp_path / "mine")


def test_pip_only_route_gives_pyclesperanto_a_working_device(tmp_path):
    """Whatever this machine has in /etc/OpenCL/vendors, pip's pocl alone must work."""
    pytest.importorskip("pyclesperanto")
    if opencl_icd.bundled_pocl() is None:
        pytest.skip("pocl-binary-distribution is not installed (x86-64 Linux only)")
    (tmp_path / "vendors").mkdir()
    done = run_python(
        f"""
        import os
        import numpy as np
        from scipy import ndimage
        from hcs_steps.memory.adapters import opencl_icd
        opencl_icd.SYSTEM_VENDOR_DIRS = ({str(tmp_path / "vendors")!r},)
        from hcs_steps.memory import convert
        stack = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32)
        image = convert(stack, "pyclesperanto")
        import pyclesperanto as cle
        blurred = convert(cle.gaussian_blur(image, sigma_x=2, sigma_y=2, sigma_z=0), "numpy")
        reference = ndimage.gaussian_filter(stack, (0, 2, 2), mode="nearest")
        print(os.environ["OCL_ICD_VENDORS"].startswith({str(tmp_path)!r}))
        print(float(np.abs(blurred - reference).max()) < 1e-5, image.device.name)
        """,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.split("\n")
    assert lines[0] == "True"
    assert lines[1].startswith("True ")


def test_no_opencl_device_is_a_clear_error(tmp_path):
    pytest.importorskip("pyclesperanto")
    empty = tmp_path / "empty-vendors"
    empty.mkdir()
    done = run_python(
        """
        import numpy as np
        from hcs_steps.memory import NoOpenCLDeviceError, convert
        from hcs_steps.memory.adapters import adapter_for
        try:
            convert(np.zeros((1, 2, 2), np.float32), "pyclesperanto")
        except NoOpenCLDeviceError as error:
            print(error)
        print(adapter_for("pyclesperanto").available())
        """,
        # The user pointed the loader at a directory with no driver in it.
        env={"OCL_ICD_VENDORS": str(empty)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    message, available = done.stdout.strip().rsplit("\n", 1)
    assert "found no OpenCL device" in message
    assert f"OCL_ICD_VENDORS={empty}" in message
    assert "pip install 'hcs-steps[cle]'" in message and "pocl-opencl-icd" in message
    assert available == "False"
