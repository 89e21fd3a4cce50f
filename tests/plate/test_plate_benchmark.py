"""The plate I/O benchmark runs end to end and reports every codec against raw I/O."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from hcs_steps.plate.codecs import CODECS

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "plate_io.py"


def test_benchmark_reports_every_codec_as_a_ratio_to_raw(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("plate_io_benchmark", SCRIPT)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    out = tmp_path / "plate_io.json"
    benchmark.main(
        [
            "--wells",
            "2",
            "--size",
            "64",
            "--repeats",
            "1",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path),
        ]
    )
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert rows[0]["codec"].startswith("raw") and rows[0]["read_vs_raw"] == 1.0
    assert {r["codec"] for r in rows[1:]} == set(CODECS)
    assert all(r["read_mb_s"] > 0 and r["write_vs_raw"] > 0 for r in rows)
    assert next(r for r in rows if r["codec"] == "none")["size_ratio"] >= 1.0
    assert result["data"]["wells"] == ["B01", "B02"]
    assert "blosc-lz4" in capsys.readouterr().out
