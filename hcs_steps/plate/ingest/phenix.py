"""Opera Phenix / Operetta exports: ``r01c01f01p01-ch1sk1fk1fl1.tiff`` plus ``Index.idx.xml``.

The index XML (``Index.idx.xml``, or ``Index.xml`` from older Harmony versions, next to the
images or in ``Images/``) is the authority: well, field, plane, channel and time point of
each file, channel names and pixel size. Fields keep the order in which the XML first lists
them (Harmony numbers fields by acquisition, not by position). Without an XML the file
names alone are used, with channels named ``ch<n>`` and no pixel size.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.ingest.common import ordered, pick_timepoint, tiff_files
from hcs_steps.plate.ingest.index import PlaneIndex, tiff_source
from hcs_steps.plate.layout import well_from_indices

INDEX_NAMES = ("Index.idx.xml", "Index.xml", "Index.ref.xml")
_NAME = re.compile(r"r(\d+)c(\d+)f(\d+)p(\d+)-ch(\d+)sk(\d+)fk\d+fl\d+\.tiff?", re.IGNORECASE)
_TO_MICROMETRE = {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "nm": 1e-3}


def find_index(root: Path) -> Path | None:
    """The index XML in ``root`` or ``root/Images``, or ``None``."""
    for folder in (root, root / "Images"):
        for name in INDEX_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def _strip_namespaces(tree: ElementTree.Element) -> ElementTree.Element:
    for element in tree.iter():
        element.tag = element.tag.rpartition("}")[2]
    return tree


def _micrometres(element) -> float | None:
    if element is None or not (element.text or "").strip():
        return None
    factor = _TO_MICROMETRE.get(element.get("Unit", "m"))
    return None if factor is None else float(element.text) * factor


def _text(element, tag: str, default=None):
    found = element.find(tag)
    return found.text.strip() if found is not None and found.text else default


def parse_index(path: Path) -> dict:
    """Images, channel names, pixel size and plate name from a Harmony index XML."""
    try:
        root = _strip_namespaces(ElementTree.parse(path).getroot())
    except ElementTree.ParseError as error:
        raise PlateDataError(f"cannot parse Phenix index {path}: {error}") from error
    plate = root.find("Plates/Plate")
    name = (_text(plate, "Name") or _text(plate, "PlateID")) if plate is not None else None
    channel_names = {}
    for entry in root.iter("Entry"):
        if entry.get("ChannelID") and _text(entry, "ChannelName"):
            channel_names[int(entry.get("ChannelID"))] = _text(entry, "ChannelName")
    images, resolution, depths = [], None, {}
    for image in root.findall("Images/Image"):
        if _text(image, "URL") is None or _text(image, "State", "Ok") != "Ok":
            continue
        record = {
            key: int(_text(image, tag))
            for key, tag in (
                ("row", "Row"),
                ("column", "Col"),
                ("field", "FieldID"),
                ("plane", "PlaneID"),
                ("channel", "ChannelID"),
            )
        }
        record["timepoint"] = int(_text(image, "TimepointID", "0"))
        record["url"] = _text(image, "URL")
        images.append(record)
        if _text(image, "ChannelName"):
            channel_names.setdefault(record["channel"], _text(image, "ChannelName"))
        resolution = resolution or (
            _micrometres(image.find("ImageResolutionY")),
            _micrometres(image.find("ImageResolutionX")),
        )
        z = _micrometres(image.find("PositionZ"))
        if z is not None:
            depths.setdefault(record["plane"], z)
    if resolution is None or None in resolution:
        for entry in root.iter("Entry"):
            resolution = (
                _micrometres(entry.find("ImageResolutionY")),
                _micrometres(entry.find("ImageResolutionX")),
            )
            break
    return {
        "name": name,
        "images": images,
        "channel_names": channel_names,
        "resolution_yx": resolution,
        "depths": depths,
    }


def _records_from_names(root: Path) -> list[dict]:
    records = []
    for path in tiff_files(root):
        match = _NAME.fullmatch(path.name)
        if match:
            row, column, field, plane, channel, timepoint = map(int, match.groups())
            records.append(
                {
                    "row": row,
                    "column": column,
                    "field": field,
                    "plane": plane,
                    "channel": channel,
                    "timepoint": timepoint,
                    "url": path.relative_to(root).as_posix(),
                }
            )
    return records


def _z_step(depths: dict) -> float:
    planes = sorted(depths)
    if len(planes) < 2:
        return 1.0
    return abs(depths[planes[1]] - depths[planes[0]]) / (planes[1] - planes[0]) or 1.0


def phenix_source(root: Path, *, missing: str = "error", timepoint: int | None = None):
    """Index a Phenix/Operetta export (see the module docstring) into a ``TiffSource``."""
    index_file = find_index(root)
    if index_file is not None:
        meta = parse_index(index_file)
        folder = index_file.parent
    else:
        meta = {
            "name": None,
            "images": _records_from_names(root),
            "channel_names": {},
            "resolution_yx": None,
            "depths": {},
        }
        folder = root
    if not meta["images"]:
        raise PlateDataError(f"no Phenix images (r01c01f01p01-ch1sk1fk1fl1.tiff) in {root}")
    name = meta["name"] or root.name
    t = pick_timepoint({r["timepoint"] for r in meta["images"]}, timepoint, f"Phenix plate {name}")
    files, fields = {}, []
    for record in meta["images"]:
        if record["timepoint"] != t:
            continue
        if record["field"] not in fields:
            fields.append(record["field"])
        path = folder / record["url"]
        if not path.is_file():
            continue  # listed but absent: reported as missing when the well is read
        well = well_from_indices(record["row"] - 1, record["column"])
        files[(well, record["field"], record["channel"], record["plane"])] = path
    channels = ordered(r["channel"] for r in meta["images"])
    resolution = meta["resolution_yx"]
    pixel_size = (
        (_z_step(meta["depths"]), *resolution) if resolution and None not in resolution else None
    )
    index = PlaneIndex(
        root=folder,
        name=name,
        files=files,
        fields=fields,
        channels=channels,
        planes=ordered(r["plane"] for r in meta["images"]),
        channel_names=[meta["channel_names"].get(c, f"ch{c}") for c in channels],
        pixel_size_zyx=pixel_size,
        expected_wells=sorted(
            {well_from_indices(r["row"] - 1, r["column"]) for r in meta["images"]}
        ),
    )
    return tiff_source(index, format="phenix", missing=missing)
