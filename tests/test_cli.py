"""``s2s show`` and ``s2s demo``, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from s2s.cli import main

HERE = Path(__file__).resolve().parent


def test_show_file_function(capsys):
    assert main(["show", str(HERE / "samples.py") + ":seed_f", "--mode", "jvp"]) == 0
    out = capsys.readouterr().out
    assert "def seed_f_jvp(x, x_dot):" in out


def test_show_module_function_and_argnums(capsys):
    assert main(["show", "s2s.examples:oscillator", "--argnums", "2"]) == 0
    assert "def oscillator_jvp(x0, v0, k, c, dt, steps, k_dot):" in capsys.readouterr().out


def test_show_primal(capsys):
    assert main(["show", "s2s.examples:heat", "--mode", "primal"]) == 0
    assert "def heat(u0, alpha, steps):" in capsys.readouterr().out


@pytest.mark.parametrize("target, message", [
    ("no/such/file.py:f", "no such file"),
    (str(HERE / "samples.py") + ":missing", "has no function 'missing'"),
    (str(HERE / "refused.py") + ":uses_with", "does not support a 'with' statement"),
    ("no_such_module_anywhere:f", "cannot import"),
    ("samples.py", "expected FILE.py:FUNC"),
])
def test_show_errors_are_one_line_with_nonzero_exit(capsys, target, message):
    assert main(["show", target]) == 1
    err = capsys.readouterr().err
    assert err.startswith("s2s: error:") and message in err and len(err.splitlines()) == 1


def test_console_script_help_and_demo():
    help_text = subprocess.run([sys.executable, "-m", "s2s", "show", "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--mode" in help_text and "FILE.py:FUNC" in help_text
    demo = subprocess.run([sys.executable, "-m", "s2s", "demo"], capture_output=True, text=True, check=True).stdout
    assert "def oscillator_jvp" in demo and "Numba:" in demo
