"""The demo that ``s2s demo`` runs: print derivatives' source, then run them in Python and Numba."""

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

    print("\nIts gradient with respect to k and c (reverse mode: a forward pass that saves what the")
    print("backward pass needs, then the backward pass), as s2s generates it:\n")
    print(s2s.source(oscillator, mode="vjp", argnums=(2, 3), args=primals))
    grad = s2s.jit(s2s.grad(oscillator, argnums=(2, 3)))
    dx_dk_rev, dx_dc = grad(*primals)
    print(f"Numba, reverse mode: dx/dk = {dx_dk_rev:.10f}, dx/dc = {dx_dc:.10f}")
    assert np.isclose(dx_dk_rev, dx_dk, rtol=1e-10)

    print("\nThe same gradient for 100 000 springs at once, one per value of k (vmap of grad; in_axes says")
    print("which arguments are batched), compiled with a parallel loop over the springs:\n")
    per_spring = s2s.jit(s2s.vmap(s2s.grad(oscillator, argnums=(2, 3)), in_axes=(None, None, 0, None, None, None)))
    ks = np.linspace(3.0, 5.0, 100_000)
    dk, dc = per_spring(1.0, 0.0, ks, 0.3, 0.01, 1000)
    print(f"dx/dk for k = {ks[0]:g}, {ks[1]:g}, ...: {dk[0]:.10f}, {dk[1]:.10f}, ... ({len(dk)} of them)")
    assert np.isclose(dk[-1], s2s.grad(oscillator, argnums=2)(1.0, 0.0, ks[-1], 0.3, 0.01, 1000), rtol=1e-10)


if __name__ == "__main__":
    main()
