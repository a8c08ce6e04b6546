"""Static arguments of ``s2s.jit``: compile-time constants the generated code is specialised on.

A call ``jit(f, static_argnums=1)(x, 3)`` runs the code of ``f`` with its parameter ``n`` bound to
``3``: the front end reads ``n`` inside ``f`` as a constant (as it reads a method's ``self``), so it
can drive Python control flow, shapes, ``range`` bounds, even name a function to call.  Each new
value is a new specialisation, cached by value: static values must be hashable.
"""

from __future__ import annotations

import inspect


class Specialized:
    """``fun`` with some parameters bound to values, which its code reads as constants.

    Equal (and hashing equal) to any other with the same function and values of the same types,
    so the caches of normalised and generated code are keyed by value.
    """

    def __init__(self, fun, values: dict):
        self.fun, self.values = fun, dict(values)
        self._key = (fun, tuple((name, type(v), v) for name, v in self.values.items()))

    def __eq__(self, other):
        return isinstance(other, Specialized) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    @property
    def __name__(self):
        return getattr(self.fun, "__name__", "f")

    @property
    def __signature__(self):
        """The parameters left to pass: those not bound."""
        signature = inspect.signature(self.fun)
        return signature.replace(parameters=[p for name, p in signature.parameters.items()
                                             if name not in self.values])

    def __call__(self, *args, **kwargs):
        bound = self.__signature__.bind(*args, **kwargs)
        return self.fun(**bound.arguments, **self.values)

    def __repr__(self):
        values = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{getattr(self.fun, '__qualname__', self.__name__)} with {values}"


class StaticArguments:
    """Which parameters of ``fun`` are static (``static_argnums``, ``static_argnames``), and how a call splits."""

    def __init__(self, fun, argnums, argnames):
        params = list(inspect.signature(fun).parameters.values())
        argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        argnames = (argnames,) if isinstance(argnames, str) else tuple(argnames)
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = []
        for n in argnums:
            if not isinstance(n, int) or not -len(positional) <= n < len(positional):
                raise ValueError(f"static_argnums {n!r} does not name a positional parameter of "
                                 f"{getattr(fun, '__name__', fun)} (it has {len(positional)})")
            names.append(positional[n])
        for name in argnames:
            if name not in {p.name for p in params}:
                raise ValueError(f"static_argnames {name!r} is not a parameter of {getattr(fun, '__name__', fun)}")
            names.append(name)
        self.fun, self.names = fun, tuple(dict.fromkeys(names))

    def split(self, args, kwargs) -> tuple[Specialized, tuple]:
        """``fun`` specialised on this call's static values, and the other arguments, in parameter order."""
        bound = inspect.signature(self.fun).bind(*args, **kwargs)
        bound.apply_defaults()
        values = {}
        for name in self.names:
            value = bound.arguments[name]
            try:
                hash(value)
            except TypeError:
                raise TypeError(f"static argument {name} of {self.fun.__name__} must be hashable (it is a compile-time "
                                f"constant, and compiled code is cached by its value); got {value!r}") from None
            values[name] = value
        rest = tuple(v for k, v in bound.arguments.items() if k not in values)
        return Specialized(self.fun, values), rest

    def positions(self, nargs) -> tuple:
        """The positions of the static parameters among the first ``nargs``."""
        return tuple(i for i, name in enumerate(list(inspect.signature(self.fun).parameters)[:nargs])
                     if name in self.names)

    def argnums_without(self, argnums, nargs):
        """``argnums`` (of a transform of the jitted function) as positions among the arguments that are not
        static: a static argument is a constant, with no derivative (JAX's error)."""
        positional = list(inspect.signature(self.fun).parameters)[:nargs]
        kept = [i for i, name in enumerate(positional) if name not in self.names]
        nums = tuple(n % nargs if -nargs <= n < nargs else n for n in ((argnums,) if isinstance(argnums, int)
                                                                         else argnums))
        if any(n not in kept for n in nums):
            raise ValueError(f"argnums {argnums!r} names static arguments of {self.fun.__name__}, which have no "
                             "derivative")
        mapped = tuple(kept.index(n) for n in nums)
        return mapped[0] if isinstance(argnums, int) else mapped
