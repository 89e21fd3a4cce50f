"""Readers that index instrument folders into :class:`~hcs_steps.plate.ingest.index.PlaneIndex`.

One module per naming scheme: ImageXpress/MetaXpress, Opera Phenix/Operetta, and a
user-supplied filename pattern. ``hcs_steps.plate.open_source`` picks one by format name.
"""
