"""``s2s.vectorize``: NumPy's generalized-ufunc broadcasting, as nested ``s2s.vmap``.

The function is written for its core dimensions alone (a ``signature`` such as ``(n,m),(m)->(n)``;
scalars without one).  A call broadcasts the arguments' leading (loop) dimensions against each other
and maps the function over them: one ``vmap`` per loop dimension, an argument of size 1 along it (or
without it) passed whole, so nothing is broadcast in memory.
"""

from __future__ import annotations

import inspect
import re

import numpy as np

_DIMS = r"\(\s*(?:\w+(?:\s*,\s*\w+)*)?\s*\)"
_SIGNATURE = re.compile(rf"^{_DIMS}(?:\s*,\s*{_DIMS})*\s*->\s*{_DIMS}(?:\s*,\s*{_DIMS})*$")


def parse_signature(signature: str) -> tuple[list, list]:
    """``"(n,m),(m)->(n)"`` → ``([("n", "m"), ("m",)], [("n",)])``."""
    if not _SIGNATURE.match(signature.strip()):
        raise ValueError(f"not a valid generalized ufunc signature: {signature!r}")
    ins, outs = signature.split("->")
    return [_core(d) for d in re.findall(_DIMS, ins)], [_core(d) for d in re.findall(_DIMS, outs)]


def _core(group: str) -> tuple:
    return tuple(d.strip() for d in group[1:-1].split(",") if d.strip())


class Vectorized:
    """``pyfunc`` made to broadcast over the leading dimensions of its arguments (see ``vectorize``)."""

    def __init__(self, pyfunc, excluded, signature):
        self.pyfunc, self.excluded, self.signature = pyfunc, frozenset(excluded), signature
        self.cores = parse_signature(signature) if signature is not None else None
        self.__name__ = getattr(pyfunc, "__name__", "vectorized")
        self.__doc__ = getattr(pyfunc, "__doc__", None)

    def __s2s_jit__(self, static_argnums, static_argnames):
        """``s2s.jit`` of this: the same broadcasting over the compiled function."""
        from .api import jit

        if static_argnums != () or static_argnames != ():
            raise TypeError("static arguments of a vectorized function: pass them as excluded arguments instead")
        return Vectorized(jit(self.pyfunc), self.excluded, self.signature)

    def __call__(self, *args, **kwargs):
        from .api import vmap

        args = self._positional(args, kwargs)
        excluded = self._excluded_positions()
        mapped = [i for i in range(len(args)) if i not in excluded]
        values = [np.asarray(args[i]) for i in mapped]
        in_cores = self.cores[0] if self.cores else [()] * len(values)
        if len(in_cores) != len(values):
            raise TypeError(f"vectorized function with signature {self.signature!r} takes {len(in_cores)} "
                            f"vectorized arguments, got {len(values)}")
        sizes = {}
        loops = []
        for value, core in zip(values, in_cores):
            if value.ndim < len(core):
                raise ValueError(f"input with shape {value.shape} does not have enough dimensions for all core "
                                 f"dimensions {core} on vectorized function with excluded={self.excluded!r} and "
                                 f"signature={self.signature!r}")
            loop_ndim = value.ndim - len(core)
            for name, size in zip(core, value.shape[loop_ndim:]):
                if sizes.setdefault(name, size) != size:
                    raise ValueError(f"inconsistent size for core dimension {name!r}: {sizes[name]} vs {size}")
            loops.append(value.shape[:loop_ndim])
        loop_shape = np.broadcast_shapes(*loops)
        # Every argument with all loop dimensions (1 where it has none), then those of size 1 squeezed out.
        padded = [v.reshape((1,) * (len(loop_shape) - len(s)) + v.shape) for v, s in zip(values, loops)]
        levels = [d for d, size in enumerate(loop_shape) if size != 1]
        fun = self.pyfunc
        for d in reversed(levels):
            in_axes = [None] * len(args)
            for i, value in zip(mapped, padded):
                in_axes[i] = 0 if value.shape[d] != 1 else None
            fun = vmap(fun, in_axes=tuple(in_axes))
        full = list(args)
        for i, value in zip(mapped, padded):
            full[i] = value.reshape(tuple(n for d, n in enumerate(value.shape)
                                          if d >= len(loop_shape) or d in levels and n != 1))
        out = fun(*full)
        return self._loop_shaped(out, loop_shape, len(levels))

    def _positional(self, args, kwargs) -> tuple:
        """The arguments in parameter order, keywords bound to their parameters."""
        return inspect.signature(self.pyfunc).bind(*args, **kwargs).args if kwargs else args

    def _excluded_positions(self) -> set:
        """``excluded`` with names given as the positions of their parameters."""
        names = list(inspect.signature(self.pyfunc).parameters) if any(isinstance(e, str) for e in self.excluded) \
            else []
        return {names.index(e) if isinstance(e, str) else e for e in self.excluded}

    @staticmethod
    def _loop_shaped(out, loop_shape, mapped):
        """The output with every loop dimension, those of size 1 put back."""
        if isinstance(out, tuple):
            return tuple(Vectorized._loop_shaped(o, loop_shape, mapped) for o in out)
        out = np.asarray(out)
        return out.reshape(loop_shape + out.shape[mapped:])

    def __repr__(self):
        return f"s2s.vectorize({self.pyfunc!r}, excluded={set(self.excluded) or 'frozenset()'}, " \
               f"signature={self.signature!r})"


def vectorize(pyfunc, *, excluded=frozenset(), signature=None):
    """Define a vectorized function with broadcasting, as ``jax.numpy.vectorize`` (``numpy.vectorize``'s interface).

    ``pyfunc`` is written for one example: scalars, or arrays with the core dimensions of
    ``signature`` (``"(n),(n)->(n)"``, ``"(n,m),(m)->(n)"``).  The result takes arguments with any
    leading dimensions, broadcast against each other as NumPy broadcasts, and maps ``pyfunc`` over
    them with ``s2s.vmap``.  ``excluded``: positions (or names) of arguments passed to ``pyfunc``
    as they are.  ``s2s.vectorize(s2s.grad(f))`` maps a gradient; ``s2s.jit`` of the result maps the
    compiled function.
    """
    return Vectorized(pyfunc, excluded, signature)
