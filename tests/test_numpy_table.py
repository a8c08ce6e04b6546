"""docs/numpy.md is generated from the rule table: the committed file must be what the generator writes."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_table_is_generated():
    spec = importlib.util.spec_from_file_location("numpy_table", ROOT / "tools" / "numpy_table.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert (ROOT / "docs" / "numpy.md").read_text() == generator.table(), (
        "docs/numpy.md is out of date: regenerate it with `python tools/numpy_table.py --write`")
