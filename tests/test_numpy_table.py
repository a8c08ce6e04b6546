"""docs/numpy.md is generated from the rule table: the committed file must be what the generator writes.

The generator runs in its own process, so rules that other tests register (``s2s.defjvp`` on their
own functions) in this worker cannot leak into the table.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_table_is_generated():
    printed = subprocess.run([sys.executable, str(ROOT / "tools" / "numpy_table.py")], capture_output=True,
                             text=True, check=True, cwd=ROOT).stdout
    assert (ROOT / "docs" / "numpy.md").read_text() == printed, (
        "docs/numpy.md is out of date: regenerate it with `python tools/numpy_table.py --write`")
