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
from .shipping import Shipped


class Checkpointed(Shipped):
    """``fun``, whose residuals are computed again where a reverse-mode derivative needs them (``policy``:
    those it saves all the same; None, nothing but the inputs)."""

    __s2s_checkpoint__ = True

    def __init__(self, fun, policy=None):
        functools.update_wrapper(self, fun)
        self.__s2s_function__ = fun
        self.policy = policy

    def __call__(self, *args, **kwargs):
        return self.__s2s_function__(*args, **kwargs)

    def like(self, fun):
        """``fun``, checkpointed as this function is (the flattened function of one that takes trees)."""
        return _checkpointed(fun, self.policy)

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
        self.made = None  # (factory, arguments), for a policy a factory made

    def __reduce__(self):
        """Pickled as it is made (its test is a lambda): one of ``checkpoint_policies``, or a factory's result
        (``made``: the factory and its arguments), the same object again in the same process."""
        return self.made or (getattr, (checkpoint_policies, self.name))

    def __repr__(self):
        return f"s2s.checkpoint_policies.{self.name}"


#: Products of arrays: ``@`` and the NumPy functions that contract.
_DOTS = frozenset({"np.dot", "np.matmul", "np.einsum", "np.tensordot", "np.inner", "np.vdot"})
#: Those whose operands have no batch dimensions (``@`` and ``np.matmul`` have them beyond two dimensions).
_DOTS_WITHOUT_BATCH = frozenset({"np.dot", "np.tensordot", "np.inner", "np.vdot"})


def _named(value):
    """The name ``s2s.checkpoint_name(x, name)`` gives its value (None: not such a call)."""
    if isinstance(value, gast.Call) and core.dotted_name(value.func) == "rt.checkpoint_name" and len(value.args) == 2 \
            and isinstance(value.args[1], gast.Constant) and isinstance(value.args[1].value, str):
        return value.args[1].value
    return None


def _dot(value, names) -> bool:
    if isinstance(value, gast.BinOp):
        return isinstance(value.op, gast.MatMult) and names is _DOTS
    return isinstance(value, gast.Call) and core.dotted_name(value.func) in names


def _made_by(factory):
    """``factory``, which makes a policy of its arguments, made once per arguments; its policies pickle as its
    call."""
    @functools.lru_cache(maxsize=None)
    @functools.wraps(factory)
    def make(*args):
        policy = factory(*args)
        policy.made = (make, args)
        return policy

    return make


class checkpoint_policies:  # noqa: N801 -- JAX's name, a namespace of policies
    """The policies ``s2s.checkpoint(fun, policy=...)`` takes: JAX's, by name."""

    everything_saveable = Policy("everything_saveable", lambda value: True)
    nothing_saveable = Policy("nothing_saveable", lambda value: False)
    dots_saveable = Policy("dots_saveable", lambda value: _dot(value, _DOTS))
    checkpoint_dots = dots_saveable
    dots_with_no_batch_dims_saveable = Policy("dots_with_no_batch_dims_saveable",
                                              lambda value: _dot(value, _DOTS_WITHOUT_BATCH))

    @staticmethod
    @_made_by
    def save_only_these_names(*names):
        """Save the values ``s2s.checkpoint_name`` names with one of ``names``, and nothing else."""
        return Policy(f"save_only_these_names{names!r}", lambda value: _named(value) in names)

    @staticmethod
    @_made_by
    def save_any_names_but_these(*names):
        """Save the values ``s2s.checkpoint_name`` names, but for those named one of ``names``."""
        return Policy(f"save_any_names_but_these{names!r}",
                      lambda value: _named(value) is not None and _named(value) not in names)

    @staticmethod
    @_made_by
    def save_anything_except_these_names(*names):
        """Save every value but those ``s2s.checkpoint_name`` names with one of ``names``."""
        return Policy(f"save_anything_except_these_names{names!r}", lambda value: _named(value) not in names)

    @staticmethod
    @_made_by
    def save_from_both_policies(left, right):
        """Save what either policy saves."""
        return Policy(f"save_from_both_policies({left!r}, {right!r})",
                      lambda value: left.saves(value) or right.saves(value))


#: The policies made of names or of other policies.
POLICY_FACTORIES = (checkpoint_policies.save_only_these_names, checkpoint_policies.save_any_names_but_these,
                    checkpoint_policies.save_anything_except_these_names, checkpoint_policies.save_from_both_policies)


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


def checkpointed(steps: range, *, snapshots: int) -> range:
    """``for i in s2s.checkpointed(range(n), snapshots=k):`` — a loop whose reverse-mode derivative holds at
    most ``k`` of its states (the names it carries from trip to trip) at once.

    Run as it is, the loop is the range's.  Differentiated in reverse, the backward pass runs steps again
    from the states it saved, in the order of binomial checkpointing (``revolve``): the fewest steps run
    again of any order within ``k`` states; each step runs at most ``r`` times more, where ``r`` is the
    least number with ``binomial(k + r, k) >= n``.
    """
    if not isinstance(steps, range):
        raise TypeError(f"s2s.checkpointed takes a range, not {type(steps).__name__}")
    check_budget(snapshots)
    return steps


def check_budget(snapshots) -> None:
    """A ``ValueError`` for a checkpointed loop's budget that is not a whole number of states, 1 or more (the
    front end checks one written in the code; ``revolve`` one passed in, when the backward pass starts)."""
    if type(snapshots) is not int or snapshots < 1:
        raise ValueError(f"s2s.checkpointed needs snapshots=1 or more, a whole number, not {snapshots!r}")


class CheckpointedLoop(Checkpointed):
    """A loop lifted from ``for i in s2s.checkpointed(...)`` (``frontend.lifting``): a checkpointed function
    whose backward pass is a binomial schedule of its steps (``loop_reversal``), not its taped loop."""

    __s2s_loop__ = True

    def like(self, fun):
        return checkpointed_loop(fun)


@functools.lru_cache(maxsize=None)
def checkpointed_loop(fun) -> CheckpointedLoop:
    """One wrapper per lifted loop, so that every call of it is one helper of the program."""
    return CheckpointedLoop(fun)
