"""Functions under test written to files and imported: s2s reads source, so each needs a file."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

_counter = itertools.count()


def load_module(directory, source: str):
    """``source`` (a module body) written to a new file under ``directory`` and imported."""
    path = Path(directory) / f"program_{next(_counter)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_program(params: str, body: list[str], directory):
    """``def program(params): body`` (NumPy imported as ``np``) written to a file and imported."""
    source = f"import numpy as np\n\n\ndef program({params}):\n" + "".join(f"    {s}\n" for s in body)
    return load_module(directory, source).program
