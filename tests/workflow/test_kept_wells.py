"""Keeping a failed batch's finished wells aside, and bringing them back only unchanged."""

from __future__ import annotations

import os
import shutil

from hcs_steps.workflow.kept_wells import MANIFEST, fingerprint, keep, restore


def finished_well(root):
    """A result well (declared by its zarr.json, with a chunk) and a measurement directory."""
    well = root / "results/p/steps/a.zarr/B/02"
    (well / "0").mkdir(parents=True)
    (well / "zarr.json").write_text("{}")
    (well / "0" / "chunk").write_bytes(b"pixels")
    tables = root / "results/p/measurements/a/B02"
    tables.mkdir(parents=True)
    (tables / "counts.parquet").write_bytes(b"table")
    return [str(well / "zarr.json"), str(tables)]


def test_a_kept_well_comes_back_whole_when_made_as_now(tmp_path):
    outputs = finished_well(tmp_path)
    source = tmp_path / "input.zarr"
    source.write_text("input")
    digest = fingerprint({"step": "a"}, [str(source)])
    store = tmp_path / "kept/p/B02"
    log = tmp_path / "logs/p/segment_a/B02.log"
    log.parent.mkdir(parents=True)
    log.write_text("what the well did")
    keep(store, digest, outputs, logs=[str(log)])
    assert not any(os.path.exists(path) for path in outputs)
    assert log.read_text() == "what the well did"  # still there to be read
    # a rerun's Snakemake removes the log and may leave the well's directory without its
    # zarr.json
    log.unlink()
    (tmp_path / "results/p/steps/a.zarr/B/02").mkdir(parents=True)
    assert restore(store, fingerprint({"step": "a"}, [str(source)]), outputs)
    assert log.read_text() == "what the well did"
    assert (tmp_path / "results/p/steps/a.zarr/B/02/0/chunk").read_bytes() == b"pixels"
    assert all(os.path.exists(path) for path in outputs) and not store.exists()


def test_a_kept_well_made_otherwise_is_dropped(tmp_path):
    outputs = finished_well(tmp_path)
    source = tmp_path / "input.zarr"
    source.write_text("input")
    store = tmp_path / "kept/p/B02"
    keep(store, fingerprint({"step": "a"}, [str(source)]), outputs)
    assert not restore(store, fingerprint({"step": "b"}, [str(source)]), outputs)  # params
    assert not store.exists() and not any(os.path.exists(path) for path in outputs)
    outputs = finished_well(tmp_path / "again")
    keep(store, fingerprint({"step": "a"}, [str(source)]), outputs)
    os.utime(source, ns=(0, 0))  # an input changed since
    assert not restore(store, fingerprint({"step": "a"}, [str(source)]), outputs)


def test_a_well_kept_only_in_part_is_never_restored(tmp_path):
    outputs = finished_well(tmp_path)
    digest = fingerprint({}, [])
    store = tmp_path / "kept/p/B02"
    keep(store, digest, outputs)
    (store / MANIFEST).unlink()  # killed before the manifest was written
    assert not restore(store, digest, outputs) and not store.exists()
    # and a well missing one of its outputs is not kept at all
    outputs = finished_well(tmp_path / "again")
    shutil.rmtree(outputs[1])
    keep(store, digest, outputs)
    assert not store.exists() and os.path.exists(outputs[0])
