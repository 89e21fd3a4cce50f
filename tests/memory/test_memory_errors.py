"""Errors a user can act on: missing libraries, refused conversions, import order."""

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hcs_steps.memory import MemoryConversionError, MemoryType, MissingLibraryError
from hcs_steps.memory.adapters import adapter_for

EXTRAS = {
    MemoryType.CUPY: "cupy",
    MemoryType.TORCH: "torch",
    MemoryType.TENSORFLOW: "tensorflow",
    MemoryType.JAX: "jax",
    MemoryType.PYCLESPERANTO: "cle",
}


@pytest.mark.parametrize("memory_type", list(EXTRAS), ids=str)
def test_a_missing_library_names_the_extra_to_install(memory_type, monkeypatch):
    adapter = type(adapter_for(memory_type))()
    monkeypatch.setattr(adapter, "module", "hcs_steps_no_such_library")
    with pytest.raises(
        MissingLibraryError, match=rf"pip install 'hcs-steps\[{EXTRAS[memory_type]}\]'"
    ):
        adapter.lib()
    assert not adapter.available()


def test_conversion_errors_carry_their_parts_and_pickle():
    error = MemoryConversionError(MemoryType.CUPY, MemoryType.TORCH, "dlpack", "no route")
    assert (error.source_type, error.target_type, error.method, error.reason) == (
        MemoryType.CUPY,
        MemoryType.TORCH,
        "dlpack",
        "no route",
    )
    assert str(error) == "cannot convert cupy to torch (dlpack): no route"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.method, copy.reason, str(copy)) == ("dlpack", "no route", str(error))


def run_python(script):
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_tensorflow_adapter_imports_pyclesperanto_first():
    pytest.importorskip("pyclesperanto")
    pytest.importorskip("tensorflow")
    out = run_python(
        """
        import sys
        import numpy as np
        from hcs_steps.memory import convert
        tensor = convert(np.ones((1, 2, 2), np.float32), "tensorflow")
        assert "pyclesperanto" in sys.modules
        print(float(convert(convert(tensor, "pyclesperanto"), "numpy").sum()))
        """
    )
    assert out.strip() == "4.0"


def test_pyclesperanto_after_tensorflow_is_an_error_not_a_segfault():
    pytest.importorskip("pyclesperanto")
    pytest.importorskip("tensorflow")
    out = run_python(
        """
        import tensorflow
        from hcs_steps.memory.adapters import adapter_for
        try:
            adapter_for("pyclesperanto").lib()
        except ImportError as exc:
            print(exc)
        """
    )
    assert "must be imported before tensorflow" in out


def test_the_test_suite_imports_pyclesperanto_before_tensorflow():
    pytest.importorskip("pyclesperanto")
    pytest.importorskip("tensorflow")
    conftest = Path(__file__).parents[1] / "conftest.py"
    out = run_python(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("suite_conftest", {str(conftest)!r})
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        import tensorflow  # a test module that imports tensorflow at the top
        assert "pyclesperanto" in sys.modules
        import numpy as np
        import pyclesperanto as cle
        print(int(cle.pull(cle.push(np.ones((1, 2, 2), np.uint8))).sum()))
        """
    )
    assert out.strip() == "4"
