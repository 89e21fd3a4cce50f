"""ImageXpress / MetaXpress folders: ``<plate>_<well>_s<site>_w<channel><GUID>.tif``.

Handles optional ``_z<n>``/``_t<n>`` parts, ``TimePoint_<n>/`` and ``ZStep_<n>/`` folders,
``_thumb`` thumbnails (skipped), multi-digit sites and channels, 1536-well rows (``AA01``)
and the ``.HTD`` plate file: sites, collected wavelengths with their names, selected wells.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.ingest.common import ordered, pick_timepoint, tiff_files
from hcs_steps.plate.ingest.index import PlaneIndex, tiff_source
from hcs_steps.plate.layout import canonical_well, well_from_indices

_GUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")
_NAME = re.compile(r"(?P<plate>.+)_(?P<well>[A-Z]{1,2}\d{2})(?P<parts>(?:_[swzt]\d+)*)")
_FOLDER = re.compile(r"(TimePoint|ZStep)_(\d+)", re.IGNORECASE)


def parse_filename(name: str) -> dict | None:
    """Fields of an ImageXpress file name, or ``None`` for thumbnails and other files.

    Examples
    --------
    >>> parse_filename("screen_1_AA01_s12_w2_z3_t1F37E4A0B-1C2D-4E5F-8A9B-0C1D2E3F4A5B.tif")
    {'plate': 'screen_1', 'well': 'AA01', 's': 12, 'w': 2, 'z': 3, 't': 1}
    >>> parse_filename("screen_B03_s1_w1_thumbF37E4A0B-1C2D-4E5F-8A9B-0C1D2E3F4A5B.tif") is None
    True
    """
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix.lower() not in ("tif", "tiff"):
        return None
    stem = _GUID.sub("", stem)
    match = _NAME.fullmatch(stem)
    if stem.endswith("_thumb") or match is None:
        return None
    found = {"plate": match["plate"], "well": canonical_well(match["well"])}
    for key, number in re.findall(r"_([swzt])(\d+)", match["parts"]):
        found[key] = int(number)
    return found


def read_htd(path: Path) -> dict:
    """Parse an ``.HTD`` file into ``{key: [values]}`` (values as text, quotes removed)."""
    entries = {}
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle, skipinitialspace=True):
            if row:
                entries[row[0].strip()] = [value.strip() for value in row[1:]]
    return entries


def _htd_layout(htd: dict) -> dict:
    """Sites, channels (number -> name), selected wells and Z steps that an HTD states.

    Only what the HTD says is returned: a file without a ``"Sites"`` or ``"Waves"`` line
    (some exports and hand-written HTDs omit them) leaves sites or channels to the file
    names, instead of being read as "one site" or "one wavelength".
    """

    def flag(key):
        return htd[key][0].upper() == "TRUE"

    def number(key, default):
        return int(htd[key][0]) if key in htd else default

    layout = {}
    if "Sites" in htd:
        if flag("Sites"):
            selection = [
                v.upper() == "TRUE"
                for k, vs in htd.items()
                if re.fullmatch(r"SiteSelection\d+", k)
                for v in vs
            ]
            count = sum(selection) if selection else number("XSites", 1) * number("YSites", 1)
            layout["sites"] = list(range(1, count + 1))
        else:
            layout["sites"] = [None]
    # Names of wavelengths, also where the HTD does not say how many it collected.
    layout["wave_names"] = {
        int(match[1]): values[0]
        for key, values in htd.items()
        if (match := re.fullmatch(r"WaveName(\d+)", key)) and values and values[0]
    }
    if "Waves" in htd or "NWavelengths" in htd:
        waves = number("NWavelengths", 1) if htd.get("Waves", ["TRUE"])[0].upper() == "TRUE" else 1
        layout["channels"] = {
            n: layout["wave_names"].get(n, f"w{n}")
            for n in range(1, waves + 1)
            if htd.get(f"WaveCollect{n}", ["1"])[0] != "0"
        }
    wells = []
    for key, values in htd.items():
        match = re.fullmatch(r"WellsSelection(\d+)", key)
        if match:
            wells += [
                well_from_indices(int(match[1]) - 1, column + 1)
                for column, value in enumerate(values)
                if value.upper() == "TRUE"
            ]
    layout["wells"] = wells
    if "ZSeries" in htd and flag("ZSeries"):
        layout["planes"] = list(range(1, number("ZSteps", 1) + 1))
    return layout


def _check_htd_against_files(htd_path: Path, htd: dict, files: dict, missing: str) -> None:
    """Refuse an HTD whose sites or wavelengths the file names contradict, saying how.

    A wavelength that the HTD lists and no file has is refused too, unless missing images
    are allowed (``missing="zeros"``: an acquisition stopped early, say).
    """
    example = {}
    for key, path in files.items():
        example.setdefault(("site", key[1]), path.name)
        example.setdefault(("channel", key[2]), path.name)
    if "sites" in htd:
        stated, found = set(htd["sites"]), {k[1] for k in files}
        if stated == {None} and found != {None}:
            sites = sorted(s for s in found if s is not None)
            raise PlateDataError(
                f'{htd_path}: the HTD says "Sites", FALSE (one site per well, no _s in the '
                f"file names), but the files have sites {_span('s', sites)} (e.g. "
                f"{example[('site', sites[0])]}); fix the HTD's Sites line or remove the HTD"
            )
        if None in found and stated != {None}:
            raise PlateDataError(
                f"{htd_path}: the HTD says {len(stated)} site(s) per well, but files have no "
                f"_s<site> in their names (e.g. {example[('site', None)]}); fix the HTD's "
                "Sites line or remove the HTD"
            )
        extra = sorted(s for s in found - stated if s is not None)
        if extra:
            raise PlateDataError(
                f"{htd_path}: the HTD selects sites {_span('s', sorted(stated))}, but files "
                f"have site(s) {_span('s', extra)} too (e.g. {example[('site', extra[0])]})"
            )
    if "channels" in htd:
        stated, found = set(htd["channels"]), {k[2] for k in files}
        extra = sorted(found - stated)
        if extra:
            raise PlateDataError(
                f"{htd_path}: the HTD lists wavelength(s) {_span('w', sorted(stated))}, but "
                f"files have {_span('w', extra)} too (e.g. {example[('channel', extra[0])]}); "
                'a missing "Waves", TRUE or a wrong "NWavelengths" line in the HTD does that'
            )
        absent = sorted(stated - found)
        if absent and missing == "error":
            names = ", ".join(f"w{n} ({htd['channels'][n]})" for n in absent)
            raise PlateDataError(
                f"{htd_path}: the HTD lists wavelength(s) {names}, but no file name has them "
                f"(files have {_span('w', sorted(found))})"
            )


def _span(prefix: str, numbers: list[int]) -> str:
    return ", ".join(f"{prefix}{n}" for n in numbers)


def imagexpress_source(root: Path, *, missing: str = "error", timepoint: int | None = None):
    """Index an ImageXpress folder (see the module docstring) into a ``TiffSource``."""
    records = []
    for path in tiff_files(root):
        parsed = parse_filename(path.name)
        if parsed is None:
            continue
        for kind, number in _FOLDER.findall(path.relative_to(root).parent.as_posix()):
            parsed.setdefault("t" if kind.lower() == "timepoint" else "z", int(number))
        records.append((parsed, path))
    if not records:
        raise PlateDataError(f"no ImageXpress images (<plate>_<well>_s<n>_w<n>.tif) in {root}")
    htd_files = sorted(root.glob("*.[Hh][Tt][Dd]"))
    htd = _htd_layout(read_htd(htd_files[0])) if htd_files else {}
    plates = {parsed["plate"] for parsed, _ in records}
    name = htd_files[0].stem if htd_files else sorted(plates)[0]
    if len(plates) > 1:
        raise PlateDataError(
            f"{root} mixes images of plates {sorted(plates)}; ingest one folder per plate"
        )
    t = pick_timepoint({p.get("t", 1) for p, _ in records}, timepoint, f"ImageXpress plate {name}")
    files = {}
    for parsed, path in records:
        if parsed.get("t", 1) != t:
            continue
        key = (parsed["well"], parsed.get("s"), parsed.get("w", 1), parsed.get("z", 1))
        if key in files:
            raise PlateDataError(
                f"{files[key]} and {path} are both well {key[0]}, site "
                f"{key[1]}, channel {key[2]}, plane {key[3]}"
            )
        files[key] = path
    if htd_files:
        _check_htd_against_files(htd_files[0], htd, files, missing)
    channels = list(htd["channels"]) if "channels" in htd else ordered(k[2] for k in files)
    index = PlaneIndex(
        root=root,
        name=name,
        files=files,
        fields=htd.get("sites") or ordered(k[1] for k in files if k[1] is not None) or [None],
        channels=channels,
        planes=htd.get("planes") or ordered(k[3] for k in files),
        channel_names=[htd.get("wave_names", {}).get(c, f"w{c}") for c in channels],
        expected_wells=htd.get("wells", []),
    )
    return tiff_source(index, format="imagexpress", missing=missing)
