"""``checkpoint`` (``remat``): recompute a function's intermediates in the backward pass instead of saving them.

A checkpointed function called from differentiated code is linearized as any helper, but its call is
marked: partial evaluation computes the helper's forward half again in the linear (and so the
backward) code, from its arguments, rather than saving the helper's residuals on the caller's tapes
(``transforms.partial_eval``).  In a loop, a checkpointed step saves its inputs, one per trip, and
nothing of what it computes.
"""

from __future__ import annotations

import functools


class Checkpointed:
    """``fun``, whose residuals are computed again where a reverse-mode derivative needs them."""

    __s2s_checkpoint__ = True

    def __init__(self, fun):
        functools.update_wrapper(self, fun)
        self.__s2s_function__ = fun

    def __call__(self, *args, **kwargs):
        return self.__s2s_function__(*args, **kwargs)

    def __repr__(self):
        return f"s2s.checkpoint({self.__s2s_function__!r})"


def checkpoint(fun, *, prevent_cse=True, policy=None, static_argnums=()):
    """``fun`` with JAX's ``checkpoint`` semantics: when differentiated in reverse (``grad``, ``vjp``,
    ``linearize``), its intermediates are recomputed from its inputs rather than stored.

    Works as a decorator, and called inside code that s2s transforms (``s2s.checkpoint(step)(x)``).
    ``prevent_cse`` is accepted for compatibility (s2s does not merge the recomputation away);
    ``policy`` must be None (nothing but the inputs is saved) and ``static_argnums`` empty.
    """
    if policy is not None:
        raise NotImplementedError("s2s.checkpoint saves the function's inputs only: policy must be None")
    if static_argnums:
        raise NotImplementedError("s2s.checkpoint does not take static_argnums: close over the values instead")
    return _checkpointed(fun)


@functools.lru_cache(maxsize=None)
def _checkpointed(fun) -> Checkpointed:
    """One wrapper per function, so that every call of it is one helper of the program."""
    return fun if isinstance(fun, Checkpointed) else Checkpointed(fun)


remat = checkpoint
