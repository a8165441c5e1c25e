"""How many chats a worker hands over to even the fleet's load: a pure function of one
scan's loads (no I/O), so every worker reading the same scan makes the same decision.

The fleet's chats held by live workers, ``total``, spread evenly over ``n`` workers, give
each ``lo = total // n`` chats, and ``lo + 1`` to ``total % n`` of them. Nothing moves while
the spread (most loaded minus least loaded) is at most ``slack + 1``: a fleet within one chat
of even, plus the slack, is left alone, so that workers at equal or near-equal load never pass
chats back and forth. Past it, every worker takes its place in the even spread closest to
now (the most loaded keep ``lo + 1``; ties broken by worker id, the same in every worker)
and hands over what it holds above its place. Read from one scan, these parts add up to
exactly what the workers below their place lack; the store gives each handed chat to the
least loaded other worker, which fills those first, so a worker that receives ends within
one chat of even, below the level that would make it shed: a chat does not come back.
(Workers that read loads from different moments can overshoot a little; the slack absorbs
it.)
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["shed_count"]


def shed_count(loads: Mapping[str, int], me: str, *, slack: int) -> int:
    """The number of chats worker ``me`` should hand over, given every live worker's load
    (chats held or handed to it) from one scan; 0 when the fleet is within ``slack``."""
    if slack < 0:
        raise ValueError("slack must be >= 0")
    mine = loads.get(me, 0)
    n = len(loads)
    if n < 2 or mine <= 0:
        return 0
    total = sum(loads.values())
    if max(loads.values()) - min(loads.values()) <= slack + 1:
        return 0
    # The even spread closest to now: the ``total % n`` most loaded workers (ties broken by
    # id, the same in every worker) keep ``lo + 1``, the others ``lo``; each hands over what
    # it holds above its place. Read from one scan, the parts add up to exactly what the
    # workers below their place lack.
    lo, extra = divmod(total, n)
    ranked = sorted(loads, key=lambda w: (-loads[w], w))
    target = lo + 1 if ranked.index(me) < extra else lo
    return max(0, mine - target)
