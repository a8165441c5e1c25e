"""``CoreOptions``: the tuning of the Web Messaging core (docs/messaging-protocol.md)."""

from __future__ import annotations

import attrs

from .._backoff import Backoff
from ._ordering import DEFAULT_REMEMBERED

__all__ = ["CoreOptions"]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not value > 0 or value == float("inf"):
        raise ValueError(f"CoreOptions.{attribute.name} must be a positive finite number")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not value >= 0 or value == float("inf"):
        raise ValueError(f"CoreOptions.{attribute.name} must be a finite number >= 0")


def _count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"CoreOptions.{attribute.name} must be an int >= 1")


@attrs.frozen(kw_only=True)
class CoreOptions:
    """Tuning of :class:`MessagingCore` (durations in seconds; docs/messaging-protocol.md).

    Attributes:
        reorder_window: how long a message is held for messages stamped before it.
        expiry_warning: how long before the session's expiry :class:`SessionExpiring` comes.
        echo_interval: seconds without a frame out before an ``echo`` keeps the session up.
        ack_timeout: seconds a send waits for its echo before the socket is recycled (the
            send is then looked up in the history).
        rate_count, rate_period: at most ``rate_count`` ``onMessage`` per ``rate_period``
            on the client's clock; 1.1 s, the service's 1 s and 0.1 s for a frame that
            reaches the service later than the one after it (it counts arrivals).
        typing_interval: at most one ``Typing On`` per this many seconds.
        max_rejections: 4029 refusals of one send before it fails.
        remembered: message keys remembered for dedupe.
        page_size, max_pages: history pages read after a reconnect, and how many at most.
        history_overlap: how far before the newest known message the history is read.
        history_attempts: tries of one history page before the read gives up.
        max_reconnect_window: seconds without a configured socket before giving up.
        backoff: the delays between socket attempts and history retries.
    """

    reorder_window: float = attrs.field(default=0.5, validator=_non_negative)
    expiry_warning: float = attrs.field(default=300.0, validator=_non_negative)
    echo_interval: float = attrs.field(default=30.0, validator=_positive)
    ack_timeout: float = attrs.field(default=30.0, validator=_positive)
    rate_count: int = attrs.field(default=2, validator=_count)
    rate_period: float = attrs.field(default=1.1, validator=_positive)
    typing_interval: float = attrs.field(default=5.0, validator=_non_negative)
    max_rejections: int = attrs.field(default=5, validator=_count)
    remembered: int = attrs.field(default=DEFAULT_REMEMBERED, validator=_count)
    page_size: int = attrs.field(default=25, validator=_count)
    max_pages: int = attrs.field(default=40, validator=_count)
    history_overlap: float = attrs.field(default=10.0, validator=_non_negative)
    history_attempts: int = attrs.field(default=5, validator=_count)
    max_reconnect_window: float = attrs.field(default=300.0, validator=_non_negative)
    backoff: Backoff = attrs.field(factory=Backoff)
