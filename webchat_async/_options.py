"""``SessionOptions``: the tuning of a :class:`~webchat_async.session.GuestSession`."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

from ._backoff import Backoff, finite_non_negative
from ._inbound import DEFAULT_WINDOW
from ._validate import check_no_controls

__all__ = ["UNSET", "SessionOptions", "Unset", "check_interval", "merge_options"]


def check_interval(name: str, value: object) -> float:
    """``value`` if it is a positive finite number of seconds; ``ValueError`` otherwise
    (0 would make a busy loop: a ping or a typing POST without pause)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value > 0 and math.isfinite(value))
    ):
        raise ValueError(f"{name} must be a positive finite number of seconds, got {value!r}")
    return float(value)


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    check_interval(f"SessionOptions.{attribute.name}", value)


def _count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"SessionOptions.{attribute.name} must be an int >= 1, got {value!r}")


def _proxy(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # A proxy URL may carry a user name and password: the error never shows it.
    if isinstance(value, str):
        check_no_controls(value, f"SessionOptions.{attribute.name}", secret=True)


@attrs.frozen(kw_only=True)
class SessionOptions:
    """Tuning of a session; every keyword of :meth:`GuestSession.start` of the same name.

    Durations must be positive and finite (``max_reconnect_window`` may be 0), counts at
    least 1: anything else raises ``ValueError`` naming the field.

    Attributes:
        backoff: the reconnection schedule (``Backoff.none()`` in tests).
        ping_interval: seconds of stream silence before the client pings.
        dead_peer_timeout: seconds after a ping without any traffic (frame, heartbeat,
            websocket pong) before the socket is dead. With the defaults a peer is declared
            dead after 50 s of silence: above 1.5x the service's ~30 s heartbeat interval,
            so an idle chat whose server never answers the text ping is not reconnected.
        max_reconnect_window: seconds without a socket before giving up (the service
            removes a guest detached for about two minutes).
        open_timeout: seconds allowed for one websocket handshake.
        queue_size: events held for the consumer; past it, messages are fetched later
            from the messages endpoint instead of queued (nothing is lost).
        dedupe_window: deliveries remembered with their timestamps (a message behind the
            delivery position is delivered only when this proves it new; see
            docs/guarantees.md), and message frames held while a backfill runs.
        typing_interval: seconds between typing indicators inside :meth:`GuestSession.typing`.
        leave_on_exit: whether closing the session leaves the conversation.
        proxy: the websocket proxy setting (``True``: from the environment, ``None``: none).
    """

    backoff: Backoff = attrs.field(factory=Backoff, validator=attrs.validators.instance_of(Backoff))
    ping_interval: float = attrs.field(default=20.0, validator=_positive)
    dead_peer_timeout: float = attrs.field(default=30.0, validator=_positive)
    max_reconnect_window: float = attrs.field(default=120.0, validator=finite_non_negative)
    open_timeout: float = attrs.field(default=10.0, validator=_positive)
    queue_size: int = attrs.field(default=256, validator=_count)
    dedupe_window: int = attrs.field(default=DEFAULT_WINDOW, validator=_count)
    typing_interval: float = attrs.field(default=4.0, validator=_positive)
    leave_on_exit: bool = True
    proxy: str | Literal[True] | None = attrs.field(default=True, validator=_proxy)


class Unset(enum.Enum):
    """The type of :data:`UNSET`: a keyword that was not given (``None`` is a value of
    ``proxy``, so it cannot mean "not given" there)."""

    UNSET = "UNSET"


#: A ``start`` / ``resume`` keyword left out: the value comes from ``options`` (or its default).
UNSET: Final = Unset.UNSET


def merge_options(options: SessionOptions | None, given: Mapping[str, object]) -> SessionOptions:
    """``options`` with the keywords given to ``start`` / ``resume`` applied on top.

    A keyword is "not given" when it is ``None`` (``UNSET`` for ``proxy``).
    """
    tuning: dict[str, Any] = {
        name: value
        for name, value in given.items()
        if value is not UNSET and (value is not None or name == "proxy")
    }
    if options is None:
        return SessionOptions(**tuning)
    return attrs.evolve(options, **tuning) if tuning else options
