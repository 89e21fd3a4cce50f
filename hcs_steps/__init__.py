"""hcs-steps: high-content-screening image processing across array libraries.

Importing this package imports numpy and nothing heavier: torch, jax, tensorflow,
cupy and pyclesperanto are imported only by the code paths that use them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hcs-steps")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
