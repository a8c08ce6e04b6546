"""Every ```python block of the documentation runs, one script per page, as a user would paste it."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
OUTPUT = re.compile(r"^```text\n(.*?)^```", re.S | re.M)


def test_pages_have_examples():
    assert sum(bool(BLOCK.findall(p.read_text())) for p in PAGES) >= 4


@pytest.mark.parametrize("page", [p for p in PAGES if BLOCK.findall(p.read_text())], ids=lambda p: p.name)
def test_examples_run(page, tmp_path, capsys):
    """Shown output (```text blocks) must be what the examples print, with example.py for the script."""
    script = tmp_path / "example.py"
    script.write_text("\n\n".join(BLOCK.findall(page.read_text())))
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    for shown in OUTPUT.findall(page.read_text()):
        assert shown in printed
