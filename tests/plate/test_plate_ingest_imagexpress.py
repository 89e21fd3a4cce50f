"""ImageXpress / MetaXpress folders ingested into valid plates, and their bad inputs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import tifffile
from plate_support import imagexpress_folder, plane, write_htd

from hcs_steps.plate import PlateDataError, ingest_plate, open_source, read_well
from hcs_steps.plate.ingest.imagexpress import parse_filename


def expected(well, sites, channels, planes, t=1):
    return np.stack(
        [
            np.stack([np.stack([plane(well, s, c, z) + (t - 1) for z in planes]) for c in channels])
            for s in sites
        ]
    )


def test_flat_folder_with_htd_guids_thumbnails_and_12_sites(tmp_path, validate_plate):
    sites = range(1, 13)
    root = imagexpress_folder(tmp_path / "MX", "Screen_2024_P1", ["B03", "C05"], sites, [1, 2])
    write_htd(
        root / "Screen_2024_P1.HTD",
        sites=12,
        x_sites=4,
        waves=["DAPI", "FITC"],
        wells=["B03", "C05"],
    )
    source = open_source(root, "imagexpress")
    assert (source.name, source.wells, source.field_count) == ("Screen_2024_P1", ["B03", "C05"], 12)
    assert (source.channel_names, source.shape_zyx) == (["DAPI", "FITC"], (1, 12, 20))

    layout = ingest_plate(source, tmp_path / "out.zarr")
    validate_plate(tmp_path / "out.zarr", wells=2, field_count=12)
    assert layout.channel_names == ["DAPI", "FITC"]
    # Sites in numeric order: s10 comes after s9, not after s1.
    np.testing.assert_array_equal(
        read_well(tmp_path / "out.zarr", "C05"), expected("C05", sites, [1, 2], [1])
    )
    provenance = json.loads((tmp_path / "out.zarr/B/03/zarr.json").read_text())
    files = provenance["attributes"]["hcs_steps"]["provenance"]["source_files"]
    assert len(files) == 24 and not any("_thumb" in f for f in files)
    assert all(f.startswith("Screen_2024_P1_B03_s") for f in files)


def test_timepoint_and_zstep_folders(tmp_path, validate_plate):
    root = imagexpress_folder(
        tmp_path / "MX",
        "P2",
        ["D04"],
        [1, 2],
        [1],
        planes=[1, 2, 3],
        z_folders=True,
        timepoints=(1, 2),
    )
    with pytest.raises(PlateDataError, match=r"holds time points \[1, 2\].*timepoint=<n>"):
        open_source(root, "imagexpress")
    source = open_source(root, "imagexpress", timepoint=2)
    assert (source.shape_zyx, source.channel_names) == ((3, 12, 20), ["w1"])
    ingest_plate(source, tmp_path / "out.zarr")
    validate_plate(tmp_path / "out.zarr", wells=1, field_count=2)
    np.testing.assert_array_equal(
        read_well(tmp_path / "out.zarr", "D04"), expected("D04", [1, 2], [1], [1, 2, 3], t=2)
    )


def test_z_and_t_in_file_names_1536_rows_and_multi_digit_channels(tmp_path, validate_plate):
    root = imagexpress_folder(
        tmp_path / "MX", "HTS", ["AA01", "AF48", "P24"], [1], [1, 2, 10], planes=[1, 2], name_z=True
    )
    source = open_source(root, "imagexpress")
    assert source.wells == ["P24", "AA01", "AF48"]
    assert source.channel_names == ["w1", "w2", "w10"]
    layout = ingest_plate(source, tmp_path / "out.zarr")
    validate_plate(tmp_path / "out.zarr", wells=3, field_count=1)
    assert (len(layout.rows), len(layout.columns)) == (32, 48)
    np.testing.assert_array_equal(
        read_well(tmp_path / "out.zarr", "AF48"), expected("AF48", [1], [1, 2, 10], [1, 2])
    )


def test_single_site_single_wavelength_names(tmp_path):
    root = tmp_path / "MX"
    root.mkdir()
    tifffile.imwrite(root / "plate_A01.tif", plane("A01", 1, 1, 1))
    source = open_source(root, "imagexpress")
    assert (source.field_count, source.channel_names) == (1, ["w1"])
    np.testing.assert_array_equal(source.read_well("A01")[0, 0, 0], plane("A01", 1, 1, 1))


def test_file_names():
    assert parse_filename("P_B03_s1_w1.TIF") == {"plate": "P", "well": "B03", "s": 1, "w": 1}
    assert parse_filename("P_B03_s1_w10.tif")["w"] == 10
    assert parse_filename("P_B03_s1_w1_thumb.tif") is None
    assert parse_filename("P_B03_s1_w1.png") is None
    assert parse_filename("notes.tif") is None


def test_missing_image_names_plate_well_field_channel_plane(tmp_path):
    root = imagexpress_folder(tmp_path / "MX", "P3", ["B02", "B03"], [1, 2], [1, 2])
    write_htd(root / "P3.HTD", sites=2, x_sites=2, waves=["DAPI", "GFP"], wells=["B02", "B03"])
    next(root.glob("P3_B03_s2_w2????????-*.tif")).unlink()
    source = open_source(root, "imagexpress")
    with pytest.raises(
        PlateDataError, match="plate P3: no image for well B03, field 2, channel 2, plane 1"
    ):
        ingest_plate(source, tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr" / "B" / "03").exists()
    filled = open_source(root, "imagexpress", missing="zeros").read_well("B03")
    assert not filled[1, 1].any() and filled[1, 0].any()


def test_well_selected_in_htd_without_images(tmp_path):
    root = imagexpress_folder(tmp_path / "MX", "P4", ["B02"], [1], [1])
    write_htd(root / "P4.HTD", sites=1, x_sites=1, waves=["DAPI"], wells=["B02", "H12"])
    source = open_source(root, "imagexpress")
    assert source.wells == ["B02", "H12"]
    with pytest.raises(PlateDataError, match="no image for well H12, field 1, channel 1"):
        source.read_well("H12")


@pytest.mark.parametrize("bad", ["shape", "dtype"])
def test_inconsistent_images_name_both_files(tmp_path, bad):
    root = imagexpress_folder(tmp_path / "MX", "P5", ["B02"], [1, 2], [1], thumbs=False)
    odd = next(root.glob("P5_B02_s2_w1*.tif"))
    data = plane("B02", 2, 1, 1)
    tifffile.imwrite(odd, data[:, :10] if bad == "shape" else data.astype(np.float32))
    reference = next(root.glob("P5_B02_s1_w1*.tif"))
    with pytest.raises(PlateDataError, match=rf"{odd.name} is .* but .*{reference.name} is"):
        open_source(root, "imagexpress").read_well("B02")


def test_mixed_plates_and_empty_folders_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlateDataError, match="no ImageXpress images"):
        open_source(tmp_path / "empty", "imagexpress")
    root = imagexpress_folder(tmp_path / "MX", "P6", ["B02"], [1], [1])
    imagexpress_folder(root, "P7", ["B02"], [1], [1])
    with pytest.raises(PlateDataError, match=r"mixes images of plates \['P6', 'P7'\]"):
        open_source(root, "imagexpress")
    with pytest.raises(PlateDataError, match="does not exist"):
        open_source(tmp_path / "nowhere", "imagexpress")


@pytest.mark.parametrize("without_sites_line", [False, True])
def test_htd_without_waves_line_takes_wavelengths_from_the_files(tmp_path, without_sites_line):
    root = imagexpress_folder(tmp_path / "MX", "P8", ["C11"], [1, 2], [1, 2, 3])
    names = ["DAPI", "FITC", "TexasRed"]
    write_htd(root / "P8.HTD", sites=2, x_sites=2, waves=names, wells=["C11"], waves_line=None)
    if without_sites_line:
        text = (root / "P8.HTD").read_text()
        (root / "P8.HTD").write_text(
            re.sub(r'"(Sites|XSites|YSites|SiteSelection\d)".*\n', "", text)
        )
    source = open_source(root, "imagexpress")
    assert (source.channel_names, source.field_count) == (names, 2)
    np.testing.assert_array_equal(source.read_well("C11"), expected("C11", [1, 2], [1, 2, 3], [1]))


def test_htd_that_the_file_names_contradict_says_how(tmp_path):
    root = imagexpress_folder(tmp_path / "MX", "P9", ["C11"], [1, 2], [1, 2, 3])
    htd = root / "P9.HTD"
    write_htd(htd, sites=2, x_sites=2, waves=["DAPI"], wells=["C11"], waves_line="FALSE")
    with pytest.raises(
        PlateDataError,
        match=r"P9.HTD: the HTD lists wavelength\(s\) w1, but files have w2, w3 too "
        r"\(e.g. P9_C11_s1_w2",
    ) as error:
        open_source(root, "imagexpress")
    assert '"Waves", TRUE' in str(error.value)
    write_htd(htd, sites=1, x_sites=1, waves=["DAPI", "FITC", "Cy5"], wells=["C11"])
    with pytest.raises(PlateDataError, match=r"selects sites s1, but files have site\(s\) s2 too"):
        open_source(root, "imagexpress")
    write_htd(htd, sites=2, x_sites=2, waves=["DAPI", "FITC", "Cy5", "Cy7"], wells=["C11"])
    with pytest.raises(PlateDataError, match=r"wavelength\(s\) w4 \(Cy7\), but no file name"):
        open_source(root, "imagexpress")
    assert open_source(root, "imagexpress", missing="zeros").channel_names[-1] == "Cy7"


def test_htd_saying_no_sites_while_files_have_sites(tmp_path):
    root = imagexpress_folder(tmp_path / "MX", "P10", ["B02"], [1, 2], [1])
    htd = root / "P10.HTD"
    write_htd(htd, sites=1, x_sites=1, waves=["DAPI"], wells=["B02"])
    htd.write_text(htd.read_text().replace('"Sites", TRUE', '"Sites", FALSE'))
    with pytest.raises(PlateDataError, match=r'says "Sites", FALSE .* files have sites s1, s2'):
        open_source(root, "imagexpress")
