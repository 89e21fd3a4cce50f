"""The README's memory-system example runs as written, on the demo plate's data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_block(heading: str) -> str:
    section = README.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return block


def test_memory_system_example_runs_on_the_demo_data():
    pytest.importorskip("torch")
    namespace = {}
    exec(
        compile(readme_python_block("The memory type system on its own"), "README", "exec"),
        namespace,
    )
    corrected = namespace["corrected"]
    assert type(corrected).__module__ == "torch" and str(corrected.dtype) == "torch.float32"
    assert tuple(corrected.shape) == (8, 256, 256)


def test_python_pipeline_example_runs_on_the_demo_plate():
    namespace = {}
    exec(compile(readme_python_block("In Python, without Snakemake"), "README", "exec"), namespace)
    result = namespace["result"]
    assert set(result.images["count_cells"]) == {"B02", "B03"}
    assert set(result.tables["counts"]["well"]) == {"B02", "B03"}
