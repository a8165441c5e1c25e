"""The one backoff schedule: exponential, capped, with jitter.

Used by the event stream's reconnection, the session's backfill retries and (as
:class:`~webchat_async._http.Retry`, which adds ``Retry-After`` handling) the HTTP
retries. One first-attempt rule: ``delay(n)`` is the wait before *retry* ``n`` (1-based);
the first attempt of anything is not a retry and does not wait (a dropped socket is
reattached at once: most drops are a load balancer rotating sockets).

Its own small module so that :class:`~webchat_async.session.SessionOptions` can name it
without importing the websocket layer (and websockets) at ``import webchat_async``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import attrs

__all__ = ["Backoff", "finite_non_negative", "fraction"]


def finite_non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """An attrs validator: a finite number >= 0."""
    if isinstance(value, bool) or not (value >= 0 and math.isfinite(value)):
        name = type(instance).__name__
        raise ValueError(f"{name}.{attribute.name} must be a finite number >= 0, got {value!r}")


def fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """An attrs validator: a number between 0 and 1."""
    if isinstance(value, bool) or not 0 <= value <= 1:
        name = type(instance).__name__
        raise ValueError(f"{name}.{attribute.name} must be between 0 and 1, got {value!r}")


def _at_least_one(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not (value >= 1 and math.isfinite(value)):
        name = type(instance).__name__
        raise ValueError(f"{name}.{attribute.name} must be a finite number >= 1, got {value!r}")


@attrs.frozen
class Backoff:
    """Delays between retries: exponential, capped, with jitter.

    Retry ``n >= 1`` waits ``min(maximum, initial * factor ** (n - 1))``, of which a random
    fraction up to ``jitter`` is taken off, so that many clients that failed together do not
    come back together. The first attempt is not a retry: it never waits.
    ``Backoff.none()`` never waits (tests). Values must be finite and >= 0 (``ValueError``).
    """

    initial: float = attrs.field(default=0.5, validator=finite_non_negative)
    maximum: float = attrs.field(default=15.0, validator=finite_non_negative)
    factor: float = attrs.field(default=2.0, validator=_at_least_one)
    jitter: float = attrs.field(default=0.5, validator=fraction)
    random: Callable[[], float] = attrs.field(default=random.random, repr=False, eq=False)

    @classmethod
    def none(cls) -> Backoff:
        """A schedule with zero delays."""
        return cls(initial=0.0, maximum=0.0, jitter=0.0)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry ``retry`` (1-based; 0 or less: the first attempt)."""
        if retry <= 0 or self.maximum <= 0:
            return 0.0
        base = min(self.maximum, self.initial * self.factor ** (retry - 1))
        return base * (1.0 - self.jitter * self.random())
