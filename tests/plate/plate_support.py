"""Instrument folders as the instruments write them, built in tmp dirs with tifffile."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import tifffile

SHAPE = (12, 20)


def plane(well: str, field: int, channel: int, z: int, dtype=np.uint16, shape=SHAPE):
    """A plane whose pixels encode where it belongs, so misplaced planes are caught."""
    code = (sum(map(ord, well)) * 1000 + field * 100 + channel * 10 + z) % 60000
    return (np.full(shape, code) + np.arange(shape[1])).astype(dtype)


def guid() -> str:
    return str(uuid.uuid4()).upper()


def write_htd(
    path: Path,
    *,
    sites: int,
    x_sites: int,
    waves: list[str],
    wells: list[str],
    z_steps: int = 1,
    timepoints: int = 1,
    waves_line: str | None = "TRUE",
) -> None:
    """A MetaXpress ``.HTD`` plate file (96-well, sites in an ``x_sites`` wide grid).

    ``waves_line`` is the value of its ``"Waves"`` line; None leaves the line (and
    ``NWavelengths``) out, as some exports do, keeping the wave names.
    """
    rows = "ABCDEFGH"
    lines = [
        '"HTSInfoFile", Version 1.0',
        '"Description", "test plate"',
        f'"TimePoints", {timepoints}',
        f'"ZSeries", {"TRUE" if z_steps > 1 else "FALSE"}',
        f'"ZSteps", {z_steps}',
        '"ZProjection", FALSE',
        '"XWells", 12',
        '"YWells", 8',
    ]
    for r, row in enumerate(rows, start=1):
        flags = ", ".join("TRUE" if f"{row}{c:02d}" in wells else "FALSE" for c in range(1, 13))
        lines.append(f'"WellsSelection{r}", {flags}')
    y_sites = -(-sites // x_sites)
    lines += ['"Sites", TRUE', f'"XSites", {x_sites}', f'"YSites", {y_sites}']
    for y in range(y_sites):
        flags = ", ".join("TRUE" if y * x_sites + x < sites else "FALSE" for x in range(x_sites))
        lines.append(f'"SiteSelection{y + 1}", {flags}')
    if waves_line is not None:
        lines += [f'"Waves", {waves_line}', f'"NWavelengths", {len(waves)}']
    for n, name in enumerate(waves, start=1):
        lines += [f'"WaveName{n}", "{name}"', f'"WaveCollect{n}", 1']
    lines += ['"UniquePlateIdentifier", "4F0A7B0E-0C87-4D0B-9E55-1B7F0E3E1E11"', '"EndFile"']
    path.write_text("\r\n".join(lines) + "\r\n")


def imagexpress_folder(
    root: Path,
    plate: str,
    wells,
    sites,
    channels,
    planes=(1,),
    *,
    z_folders=False,
    timepoints=(1,),
    name_z=False,
    thumbs=True,
) -> Path:
    """Write ``<plate>_<well>_s<site>_w<channel>[_z<z>][_t<t>]<GUID>.tif`` files.

    ``z_folders`` puts planes in ``TimePoint_<t>/ZStep_<z>/``; otherwise time points go in
    ``TimePoint_<t>/`` folders when there are several, or ``_z``/``_t`` name parts with
    ``name_z``. Thumbnails (8x8, ``_thumb``) are written next to the images.
    """
    root.mkdir(parents=True, exist_ok=True)
    for t in timepoints:
        for well in wells:
            for site in sites:
                for channel in channels:
                    for z in planes:
                        folder = root
                        if z_folders:
                            folder = root / f"TimePoint_{t}" / f"ZStep_{z}"
                        elif len(timepoints) > 1 and not name_z:
                            folder = root / f"TimePoint_{t}"
                        folder.mkdir(parents=True, exist_ok=True)
                        stem = f"{plate}_{well}_s{site}_w{channel}"
                        if name_z:
                            stem += f"_z{z}_t{t}"
                        data = plane(well, site, channel, z) + (t - 1)
                        tifffile.imwrite(folder / f"{stem}{guid()}.tif", data)
                        if thumbs:
                            tifffile.imwrite(
                                folder / f"{stem}_thumb{guid()}.tif", np.zeros((8, 8), np.uint8)
                            )
    return root


def phenix_index(
    images, *, namespace=True, channels=("HOECHST 33342", "Alexa 488"), plate="P-0001"
) -> str:
    """An ``Index.idx.xml`` listing ``images`` as (row, col, field, plane, channel, url)."""
    ns = ' xmlns="http://www.perkinelmer.com/PEHH/HarmonyV6"' if namespace else ""
    entries = "".join(
        f'<Entry ChannelID="{n}"><ChannelName>{name}</ChannelName>'
        f'<ImageResolutionX Unit="m">6.5E-07</ImageResolutionX>'
        f'<ImageResolutionY Unit="m">6.5E-07</ImageResolutionY></Entry>'
        for n, name in enumerate(channels, start=1)
    )
    items = "".join(
        f'<Image Version="1"><id>{r:02d}{c:02d}K1F{f}P{p}R{ch}</id><State>Ok</State>'
        f"<URL>{url}</URL><Row>{r}</Row><Col>{c}</Col><FieldID>{f}</FieldID>"
        f"<PlaneID>{p}</PlaneID><TimepointID>0</TimepointID><ChannelID>{ch}</ChannelID>"
        f'<PositionZ Unit="m">{(p - 1) * 2e-6:.1E}</PositionZ></Image>'
        for r, c, f, p, ch, url in images
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><EvaluationInputData{ns} Version="2">'
        f"<User>tester</User><InstrumentType>Phenix</InstrumentType>"
        f"<Plates><Plate><PlateID>{plate}</PlateID><Name>{plate}</Name>"
        f"<PlateRows>16</PlateRows><PlateColumns>24</PlateColumns></Plate></Plates>"
        f"<Maps><Map>{entries}</Map></Maps><Images>{items}</Images></EvaluationInputData>"
    )


def phenix_name(row, column, field, plane, channel) -> str:
    return f"r{row:02d}c{column:02d}f{field:02d}p{plane:02d}-ch{channel}sk1fk1fl1.tiff"


def phenix_folder(
    root: Path,
    wells,
    fields,
    planes,
    channels,
    *,
    index_name="Index.idx.xml",
    namespace=True,
    skip=(),
) -> Path:
    """A Harmony export: ``Images/`` with TIFFs and the index XML (fields in given order).

    ``wells`` are (row, column) numbers; files in ``skip`` are listed but not written.
    """
    images_dir = root / "Images"
    images_dir.mkdir(parents=True, exist_ok=True)
    listed = []
    for row, column in wells:
        for field in fields:
            for p in planes:
                for ch in channels:
                    name = phenix_name(row, column, field, p, ch)
                    listed.append((row, column, field, p, ch, name))
                    if name not in skip:
                        well = "ABCDEFGHIJKLMNOP"[row - 1] + f"{column:02d}"
                        tifffile.imwrite(images_dir / name, plane(well, field, ch, p))
    if index_name:
        (images_dir / index_name).write_text(phenix_index(listed, namespace=namespace))
    return root
