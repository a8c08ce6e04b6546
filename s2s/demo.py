"""The demo that ``s2s demo`` runs: print a derivative's source, then run it in Python and Numba."""

import numpy as np

import s2s
from s2s.examples import oscillator


def main():
    print("The function (s2s/examples.py):\n")
    import inspect

    print(inspect.getsource(oscillator))
    print("Its forward derivative with respect to the spring constant k, as s2s generates it:\n")
    print(s2s.source(oscillator, mode="jvp", argnums=2))
    primals = (1.0, 0.0, 4.0, 0.3, 0.01, 1000)
    tangents = (None, None, 1.0, None, None, None)
    x, dx_dk = s2s.jvp(oscillator, primals, tangents)
    print(f"Python: x = {x:.10f}, dx/dk = {dx_dk:.10f}")
    x_jit, dx_dk_jit = s2s.jvp(s2s.jit(oscillator), primals, tangents)
    print(f"Numba:  x = {x_jit:.10f}, dx/dk = {dx_dk_jit:.10f}")
    eps = 1e-6
    up = oscillator(1.0, 0.0, 4.0 + eps, 0.3, 0.01, 1000)
    down = oscillator(1.0, 0.0, 4.0 - eps, 0.3, 0.01, 1000)
    print(f"Central finite difference:    dx/dk = {(up - down) / (2 * eps):.10f}")
    assert np.isclose(dx_dk, dx_dk_jit) and np.isclose(dx_dk, (up - down) / (2 * eps), rtol=1e-6)


if __name__ == "__main__":
    main()
