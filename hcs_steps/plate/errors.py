"""The one exception type plate I/O raises for data it refuses."""

from __future__ import annotations


class PlateDataError(ValueError):
    """Plate data that cannot be read, written or ingested as asked.

    The message names what was received (plate, well, field, chunk or file) and what is
    accepted. Subclasses ``ValueError`` so callers that validate input catch it too.
    """
