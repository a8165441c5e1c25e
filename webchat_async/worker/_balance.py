"""How many chats a worker hands over to even the fleet's load: a pure function of the
live workers' loads (no I/O), so every worker reading the same loads decides the same way.

``total`` chats over ``n`` workers give each ``total // n``, and one more to ``total % n``
of them. Nothing moves while the spread (most loaded minus least loaded) is at most
``slack + 1``: workers within one chat of even, plus the slack, never pass chats back and
forth. Past it, the workers are ranked by load (ties by id, the same order in every
worker), the first ``total % n`` keep one more than the others, and each hands over what it
holds above its place: read from one set of loads, the parts add up to what the workers
below their place lack, and the store hands each chat to the least loaded other worker.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["shed_count"]


def shed_count(loads: Mapping[str, int], me: str, *, slack: int) -> int:
    """The number of chats worker ``me`` hands over, given every live worker's load (chats
    held or handed to it); 0 when the fleet is within ``slack`` of even."""
    if slack < 0:
        raise ValueError("slack must be >= 0")
    mine = loads.get(me, 0)
    if len(loads) < 2 or mine <= 0:
        return 0
    if max(loads.values()) - min(loads.values()) <= slack + 1:
        return 0
    base, extra = divmod(sum(loads.values()), len(loads))
    ranked = sorted(loads, key=lambda w: (-loads[w], w))
    place = base + 1 if ranked.index(me) < extra else base
    return max(0, mine - place)
