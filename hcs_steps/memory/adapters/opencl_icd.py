"""Give pyclesperanto a CPU OpenCL device from PyPI when the machine has no OpenCL driver.

The OpenCL loader (ocl-icd, bundled in pyclesperanto-opencl's wheel) finds drivers through
``.icd`` files, one line naming a driver library each, in ``/etc/OpenCL/vendors`` or in the
directory that ``OCL_ICD_VENDORS`` names. ``pocl-binary-distribution`` (the ``cle`` extra)
ships pocl's CPU driver inside the wheel but registers no ``.icd`` file, so without help the
loader never sees it. When, and only when, no other driver is registered, hcs-steps writes a
one-line ``.icd`` naming that library into its cache and points ``OCL_ICD_VENDORS`` at it,
before pyclesperanto loads OpenCL. A registered driver (a GPU vendor's, Debian's
``pocl-opencl-icd``, a conda environment's) or a user's own ``OCL_ICD_VENDORS`` always wins.
"""

from __future__ import annotations

import glob
import os
import tempfile
from importlib import metadata
from pathlib import Path

#: The loader's variables: either one set means the user chose the drivers.
LOADER_VARIABLES = ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES")
SYSTEM_VENDOR_DIRS = ("/etc/OpenCL/vendors", "/usr/local/etc/OpenCL/vendors")
POCL_DISTRIBUTION = "pocl-binary-distribution"


def registered_drivers() -> list[str]:
    """The ``.icd`` files the loader reads by itself (system and conda vendor directories)."""
    directories = list(SYSTEM_VENDOR_DIRS)
    if os.environ.get("CONDA_PREFIX"):
        directories.append(os.path.join(os.environ["CONDA_PREFIX"], "etc/OpenCL/vendors"))
    return sorted(path for d in directories for path in glob.glob(os.path.join(d, "*.icd")))


def bundled_pocl() -> Path | None:
    """The pocl driver library installed by ``pocl-binary-distribution``, if it is installed."""
    try:
        files = metadata.files(POCL_DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.startswith("libpocl") and ".so" in file.name:
            path = Path(file.locate()).resolve()
            if path.is_file():
                return path
    return None


def vendor_directory() -> Path:
    """Where hcs-steps keeps its ``.icd`` file: the user's cache directory (XDG)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache) / "hcs-steps" / "opencl-vendors"


def use_bundled_pocl_if_no_driver() -> str | None:
    """Point the OpenCL loader at the pip-installed pocl when nothing else is registered.

    Returns the vendor directory it set ``OCL_ICD_VENDORS`` to, or None when it changed
    nothing (a driver is registered, the user set the loader's variables, or pocl from PyPI
    is not installed). Must run before pyclesperanto first loads OpenCL in this process.
    """
    if any(os.environ.get(name) for name in LOADER_VARIABLES) or registered_drivers():
        return None
    library = bundled_pocl()
    if library is None:
        return None
    directory = _write_icd(vendor_directory(), library)
    os.environ["OCL_ICD_VENDORS"] = str(directory)
    return str(directory)


def _write_icd(directory: Path, library: Path) -> Path:
    icd = directory / "hcs-steps-pocl.icd"
    try:
        if not (icd.is_file() and icd.read_text().strip() == str(library)):
            directory.mkdir(parents=True, exist_ok=True)
            # Another process may read the file while this one writes it: rename into place.
            tmp = icd.with_name(f".{icd.name}.{os.getpid()}.tmp")
            tmp.write_text(f"{library}\n")
            os.replace(tmp, icd)
    except OSError:
        # A read-only home (some cluster nodes): a private directory per process.
        directory = Path(tempfile.mkdtemp(prefix="hcs-steps-opencl-"))
        (directory / icd.name).write_text(f"{library}\n")
    return directory


def missing_device_advice() -> str:
    """What to install when pyclesperanto finds no OpenCL device."""
    seen = registered_drivers()
    where = (
        f"the registered drivers ({', '.join(seen)}) offer no usable device"
        if seen
        else "no OpenCL driver is registered (/etc/OpenCL/vendors is empty)"
    )
    chosen = [f"{name}={os.environ[name]}" for name in LOADER_VARIABLES if os.environ.get(name)]
    if chosen:
        where += f"; the loader was pointed at {', '.join(chosen)}"
    return (
        f"pyclesperanto found no OpenCL device: {where}. For a CPU device, "
        f"pip install 'hcs-steps[cle]' (brings {POCL_DISTRIBUTION}, used automatically when "
        "no other driver is registered) or apt-get install pocl-opencl-icd; for a GPU, "
        "install its vendor's OpenCL driver"
    )
