"""tracker._fast picks the compiled modules or, when told or when they are missing, the twins."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

PROBE = (
    "import tracker._fast as f; "
    "print(f.USING_EXTENSIONS, f.TableBuffer.__module__, f.decode_query.__module__)"
)
# Makes one compiled module look unbuilt: a finder that refuses it.
HIDE_IDS = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "tracker._fast.ids":
            raise ImportError(name)
sys.meta_path.insert(0, Hide())
"""
NAMES = [
    "decode_path_pairs",
    "decode_query",
    "uuid7",
    "normalize_uuid",
    "is_uuid",
    "TableBuffer",
    "ColumnBatch",
    "JsonRows",
    "USING_EXTENSIONS",
]


def probe(prelude: str = "", **env: str) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if k != "TRACKER_NO_EXTENSIONS"}
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", prelude + PROBE],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""  # nothing noisy either way
    return done.stdout.split()


def test_exports():
    import tracker._fast as fast

    assert set(NAMES) <= set(fast.__all__)
    for name in NAMES:
        assert hasattr(fast, name)


def test_no_extensions_switch_picks_the_twins():
    using, columns, pathpairs = probe(TRACKER_NO_EXTENSIONS="1")
    assert using == "False"
    assert (columns, pathpairs) == ("tracker._fast.columns_py", "tracker._fast.pathpairs_py")


def test_compiled_modules_are_picked_when_built():
    if importlib.util.find_spec("tracker._fast.columns") is None:
        pytest.skip("tracker._fast is not built (setup.py build_ext --inplace)")
    using, columns, pathpairs = probe()
    assert using == "True"
    assert (columns, pathpairs) == ("tracker._fast.columns", "tracker._fast.pathpairs")


def test_a_missing_compiled_module_means_twins_for_everything():
    using, columns, pathpairs = probe(HIDE_IDS)
    assert using == "False"
    assert (columns, pathpairs) == ("tracker._fast.columns_py", "tracker._fast.pathpairs_py")
