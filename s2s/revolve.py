"""Binomial checkpointing (Griewank's *revolve*): the order in which the backward pass of a loop of ``count``
steps runs steps again, saves states and restores them, holding at most ``snapshots`` states at once.

The backward pass of a checkpointed loop (``s2s.checkpointed``) asks for one action at a time, so the
schedule takes memory for ``snapshots`` pairs of numbers, not for the steps.  Each action says: run the
steps ``first .. last - 1`` forward from the current state; then save the state in slot ``save``; then
take step ``back`` backward (its cotangents, from the current state); then restore slot ``load``.  A part
that is ``-1`` is not done; an action of ``first == -1`` says every step is reversed.

Slot 0 holds the loop's initial state.  A run of ``n`` steps with ``c`` slots free to it is split where
Griewank's binomial counts say (``_split``): the fewest forward steps of any schedule within the memory,
``r n - beta(c + 1, r - 1)`` for ``beta(c, r - 1) < n <= beta(c, r)``, each step run at most ``r`` times
more.  Plain Python, compiled by Numba as it is where generated code runs compiled.
"""

from __future__ import annotations

import numpy as np

from .backends.deferred import register_jitable

#: Where the schedule's state sits in its array: the number of slots and the depth of the current run, then
#: one ``(first, last)`` pair of steps per depth.
_SLOTS, _DEPTH, _RUNS = 0, 1, 2


@register_jitable
def _beta(slots, repeats, most):
    """``binomial(slots + repeats, slots)``, the most steps ``slots`` states reverse with each step run at most
    ``repeats`` times again, or ``most`` if that is fewer (so that it never overflows)."""
    value = 1
    for k in range(1, repeats + 1):
        value = value * (slots + k) // k
        if value >= most:
            return most
    return value


@register_jitable
def _split(n, slots):
    """How many of ``n`` steps to run before the next snapshot, with ``slots`` states to hold them (the first
    state's included): the binomial split that makes the fewest forward steps."""
    repeats = 0
    while _beta(slots, repeats, n) < n:
        repeats += 1
    return max(1, min(_beta(slots, repeats - 1, n), n - _beta(slots - 1, repeats - 1, n)))


@register_jitable
def revolve(count, snapshots):
    """The schedule of a loop of ``count`` steps reversed within ``snapshots`` saved states (1 or more)."""
    if snapshots < 1 or snapshots != int(snapshots):  # (a constant message: compiled code raises it too)
        raise ValueError("s2s.checkpointed needs snapshots=1 or more, a whole number")
    plan = np.zeros(_RUNS + 2 * int(snapshots), np.int64)
    plan[_SLOTS] = snapshots
    plan[_DEPTH] = 0 if count > 0 else -1
    plan[_RUNS + 1] = count
    return plan


@register_jitable
def revolve_next(plan):
    """The next action, ``(first, last, save, back, load)``, and ``plan`` moved past it."""
    depth = plan[_DEPTH]
    if depth < 0:
        return -1, -1, -1, -1, -1
    first, last = plan[_RUNS + 2 * depth], plan[_RUNS + 2 * depth + 1]
    if last - first == 1:  # the run's first step, from its own state: done with it, back to the run it is part of
        plan[_DEPTH] = depth - 1
        return first, first, -1, first, depth - 1
    free = plan[_SLOTS] - depth - 1
    if free == 0:  # no slot to spare: the run's last step, from its first state, restored again after it
        plan[_RUNS + 2 * depth + 1] = last - 1
        return first, last - 1, -1, last - 1, depth
    middle = first + _split(last - first, free + 1)
    plan[_RUNS + 2 * depth + 1] = middle
    plan[_DEPTH] = depth + 1
    plan[_RUNS + 2 * depth + 2] = middle
    plan[_RUNS + 2 * depth + 3] = last
    return first, middle, depth + 1, -1, -1
