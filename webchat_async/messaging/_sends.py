"""The guest's sends, pure: the rate limit and the record of one send.

:class:`RateLimit` keeps ``onMessage`` frames under the service's limit
(docs/messaging-protocol.md#rate-limit); :class:`Send` is one call of the session's
``send_*`` methods on its way to the wire and back (docs/messaging-protocol.md#sends-across-drops);
:func:`retry_delay` bounds the service's ``retryAfter``.
"""

from __future__ import annotations

import datetime
import enum
import math
from collections import deque
from collections.abc import Mapping

import attrs

from ._models import StructuredMessage

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "MAX_RETRY_AFTER",
    "Kind",
    "Phase",
    "RateLimit",
    "Send",
    "find_send",
    "retry_delay",
]

#: ``retryAfter`` when absent or absurd, and its cap, in seconds (spec §7.5).
DEFAULT_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 60.0


def retry_delay(retry_after: float | None) -> float:
    """The wait after a 4029: ``retry_after`` in seconds, 1 s when absent or absurd (not a
    finite number > 0), at most 60 s (docs/messaging-protocol.md#rate-limit)."""
    if retry_after is None or not math.isfinite(retry_after) or retry_after <= 0:
        return DEFAULT_RETRY_AFTER
    return min(retry_after, MAX_RETRY_AFTER)


class RateLimit:
    """At most ``count`` frames in any ``period`` seconds (a sliding window).

    The strictest reading of "2 per second" (docs/messaging-protocol.md#rate-limit
    [choice]): no window of ``period`` seconds, wherever it starts, holds more than
    ``count`` frames, so whatever bucket the service keeps, this never trips it as long as
    frames arrive as far apart as they left; the session's ``period`` is longer than the
    service's by a margin for the frames that do not.
    :meth:`block` adds the service's own ``retryAfter``.
    """

    __slots__ = ("_blocked_until", "_sent", "count", "period")

    def __init__(self, count: int = 2, period: float = 1.0) -> None:
        if count < 1 or not period > 0:
            raise ValueError("count must be at least 1 and period positive")
        self.count = count
        self.period = period
        self._sent: deque[float] = deque(maxlen=count)
        self._blocked_until = float("-inf")

    def ready_at(self) -> float:
        """The earliest time the next frame may go (``-inf``: at once)."""
        sent = self._sent
        window = sent[0] + self.period if len(sent) == self.count else float("-inf")
        return max(window, self._blocked_until)

    def record(self, now: float) -> None:
        """A frame went out at ``now``."""
        # A clock that steps back must not let a frame through early.
        if self._sent and now < self._sent[-1]:
            now = self._sent[-1]
        self._sent.append(now)

    def block(self, until: float) -> None:
        """No frame before ``until`` (the service said to wait)."""
        self._blocked_until = max(self._blocked_until, until)


class Kind(enum.Enum):
    """What a :class:`Send` sends."""

    TEXT = "text"
    TYPING = "typing"
    ATTACHMENT = "attachment"


class Phase(enum.Enum):
    """Where a :class:`Send` stands.

    ``QUEUED``: waiting for its turn (or for the rate limit); ``PRESIGN``: an attachment's
    ``onAttachment`` is out; ``UPLOAD``: the driver is putting its bytes; ``SCAN``: waiting
    for ``UploadSuccessEvent``; ``ON_WIRE``: its ``onMessage`` is out, its echo awaited;
    ``UNCERTAIN``: the socket dropped before the echo: it is looked up in the history
    before it goes again.
    """

    QUEUED = "queued"
    PRESIGN = "presign"
    UPLOAD = "upload"
    SCAN = "scan"
    ON_WIRE = "on-wire"
    UNCERTAIN = "uncertain"


@attrs.define(eq=False)
class Send:
    """One send of the guest (mutable: the core moves it through its phases)."""

    id: int
    kind: Kind
    custom_id: str
    text: str | None = None
    custom_attributes: Mapping[str, str] | None = None
    file_name: str | None = None
    content_type: str | None = None
    size: int | None = None
    attachment_id: str | None = None
    phase: Phase = Phase.QUEUED
    tracing_id: str | None = None
    # The newest channel.time the core knew when the frame went out: the history fallback
    # matches an Inbound message with the same text stored after it.
    known_time: datetime.datetime | None = None
    rejections: int = 0


def find_send(send: Send, entities: list[StructuredMessage]) -> StructuredMessage | None:
    """``send`` in the history (docs/messaging-protocol.md#sends-across-drops)."""
    inbound = [m for m in entities if m.inbound]
    for message in inbound:
        if message.metadata.get("customMessageId") == send.custom_id:
            return message
    if any("customMessageId" in m.metadata for m in inbound):
        return None  # the service keeps metadata: absent means not stored
    after = send.known_time
    for message in sorted(inbound, key=lambda m: (m.time is None, m.time)):
        if message.text == send.text and (
            after is None or (message.time is not None and message.time > after)
        ):
            return message
    return None
