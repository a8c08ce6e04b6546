"""``checkpoint`` (``remat``): recompute a function's intermediates in the backward pass instead of saving them.

A checkpointed function called from differentiated code is linearized as any helper, but its call is
marked: partial evaluation computes the helper's forward half again in the linear (and so the
backward) code, from its arguments, rather than saving the helper's residuals on the caller's tapes
(``transforms.partial_eval``).  In a loop, a checkpointed step saves its inputs, one per trip, and
nothing of what it computes.
"""

from __future__ import annotations

import functools

import gast
from . import core


class Checkpointed:
    """``fun``, whose residuals are computed again where a reverse-mode derivative needs them (``policy``:
    those it saves all the same; None, nothing but the inputs)."""

    __s2s_checkpoint__ = True

    def __init__(self, fun, policy=None):
        functools.update_wrapper(self, fun)
        self.__s2s_function__ = fun
        self.policy = policy

    def __call__(self, *args, **kwargs):
        return self.__s2s_function__(*args, **kwargs)

    def __repr__(self):
        policy = "" if self.policy is None else f", policy={self.policy!r}"
        return f"s2s.checkpoint({self.__s2s_function__!r}{policy})"


class Policy:
    """What a checkpointed function saves of the values it computes, as JAX's ``checkpoint_policies`` say:
    ``saves(value)`` for the right-hand side of each of its assignments (a core-form expression).  Any choice
    gives the same derivatives; it trades the memory of what is saved against the time of what is computed
    again."""

    def __init__(self, name, saves):
        self.name, self.saves = name, saves

    def __repr__(self):
        return f"s2s.checkpoint_policies.{self.name}"


#: Products of arrays: ``@`` and the NumPy functions that contract.
_DOTS = frozenset({"np.dot", "np.matmul", "np.einsum", "np.tensordot", "np.inner", "np.vdot"})
#: Those whose operands have no batch dimensions (``@`` and ``np.matmul`` have them beyond two dimensions).
_DOTS_WITHOUT_BATCH = frozenset({"np.dot", "np.tensordot", "np.inner", "np.vdot"})


def _dot(value, names) -> bool:
    if isinstance(value, gast.BinOp):
        return isinstance(value.op, gast.MatMult) and names is _DOTS
    return isinstance(value, gast.Call) and core.dotted_name(value.func) in names


class checkpoint_policies:  # noqa: N801 -- JAX's name, a namespace of policies
    """The policies ``s2s.checkpoint(fun, policy=...)`` takes: JAX's, by name."""

    everything_saveable = Policy("everything_saveable", lambda value: True)
    nothing_saveable = Policy("nothing_saveable", lambda value: False)
    dots_saveable = Policy("dots_saveable", lambda value: _dot(value, _DOTS))
    checkpoint_dots = dots_saveable
    dots_with_no_batch_dims_saveable = Policy("dots_with_no_batch_dims_saveable",
                                              lambda value: _dot(value, _DOTS_WITHOUT_BATCH))


def checkpoint(fun, *, prevent_cse=True, policy=None, static_argnums=()):
    """``fun`` with JAX's ``checkpoint`` semantics: when differentiated in reverse (``grad``, ``vjp``,
    ``linearize``), its intermediates are recomputed from its inputs rather than stored.

    Works as a decorator, and called inside code that s2s transforms (``s2s.checkpoint(step)(x)``).
    ``prevent_cse`` is accepted for compatibility (s2s does not merge the recomputation away).
    ``policy``, one of ``s2s.checkpoint_policies``, says what is saved besides the inputs (products of
    arrays, say): the function's own assignments it saves are not computed again, and the values they
    read are not saved for them.  ``static_argnums`` must be empty.
    """
    if static_argnums:
        raise NotImplementedError("s2s.checkpoint does not take static_argnums: close over the values instead")
    if policy is not None and not isinstance(policy, Policy):
        raise TypeError(f"s2s.checkpoint takes a policy of s2s.checkpoint_policies, not {policy!r} (s2s decides "
                        "what to save when it reads the code, not from the operations as they run)")
    if policy is checkpoint_policies.everything_saveable:
        return fun
    if policy is checkpoint_policies.nothing_saveable:
        policy = None
    return _checkpointed(fun, policy)


@functools.lru_cache(maxsize=None)
def _checkpointed(fun, policy) -> Checkpointed:
    """One wrapper per function and policy, so that every call of it is one helper of the program."""
    if isinstance(fun, Checkpointed):
        return fun if fun.policy is policy else _checkpointed(fun.__s2s_function__, policy)
    return Checkpointed(fun, policy)


remat = checkpoint


#: The most levels of pieces a checkpointed loop is cut into.
LEVELS = 4


def checkpointed(steps: range, *, snapshots: int) -> range:
    """``for i in s2s.checkpointed(range(n), snapshots=100):`` — a loop whose reverse-mode derivative holds
    at most about ``snapshots`` of its states (the names it carries from trip to trip) at once.

    Run as it is, the loop is the range's.  Differentiated in reverse, it is cut into pieces, pieces of
    pieces and so on (``schedule``): each piece saves its input and is computed again when the backward
    pass reaches it.  With ``L`` levels of pieces, the loop's steps run ``L + 1`` times in all.
    """
    if not isinstance(steps, range):
        raise TypeError(f"s2s.checkpointed takes a range, not {type(steps).__name__}")
    if not isinstance(snapshots, int) or snapshots < 2:
        raise ValueError(f"s2s.checkpointed needs snapshots=2 or more, not {snapshots!r}")
    return steps


def schedule(count, snapshots):
    """``(levels, size)`` for a checkpointed loop of ``count`` steps: the fewest levels (up to ``LEVELS``) of
    pieces of ``size ** level`` steps whose saved states fit in ``snapshots``.

    While the backward pass goes through the loop, the outermost level holds one saved input per piece,
    each level inside it at most ``size`` more, and the innermost run of at most ``size`` steps its tape:
    memory grows as ``count ** (1 / (levels + 1))``, time as ``levels + 1`` forward sweeps.
    """
    levels = 0
    size = 1
    held = count
    while held > snapshots and levels < LEVELS:
        levels += 1
        size = 1
        while size ** (levels + 1) < count:
            size += 1
        held = (count + size ** levels - 1) // size ** levels + levels * size
    if held > snapshots:  # (a constant message: this runs in the generated code, compiled too)
        raise ValueError("s2s.checkpointed: too few snapshots for this many steps (1000 steps need 20, a million 80)")
    return levels, size
