"""The reconnection schedule of the event stream: exponential, capped, with jitter.

Its own small module so that :class:`~webchat_async.session.SessionOptions` can name it
without importing the websocket layer (and websockets) at ``import webchat_async``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

__all__ = ["Backoff"]


@attrs.frozen
class Backoff:
    """Delays between reconnection attempts: exponential, capped, with jitter.

    The first attempt after a drop is immediate (most drops are a load balancer rotating
    sockets); attempt ``n >= 2`` waits ``min(maximum, initial * factor ** (n - 2))``, of
    which the fraction ``jitter`` is randomised so that many clients dropped together do
    not come back together. ``Backoff.none()`` never waits (tests).
    """

    initial: float = 0.5
    maximum: float = 15.0
    factor: float = 2.0
    jitter: float = 0.5
    random: Callable[[], float] = attrs.field(default=random.random, repr=False, eq=False)

    @classmethod
    def none(cls) -> Backoff:
        """A schedule with zero delays."""
        return cls(initial=0.0, maximum=0.0, jitter=0.0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before connection attempt ``attempt`` (1-based)."""
        if attempt <= 1 or self.maximum <= 0:
            return 0.0
        base = min(self.maximum, self.initial * self.factor ** (attempt - 2))
        return base * (1.0 - self.jitter) + base * self.jitter * self.random()
