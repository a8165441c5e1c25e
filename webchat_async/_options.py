"""``SessionOptions``: the tuning of a :class:`~webchat_async.session.GuestSession`."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ._backoff import Backoff
from ._inbound import DEFAULT_WINDOW

__all__ = ["SessionOptions", "merge_options"]


@attrs.frozen(kw_only=True)
class SessionOptions:
    """Tuning of a session; every keyword of :meth:`GuestSession.start` of the same name.

    Attributes:
        backoff: the reconnection schedule (``Backoff.none()`` in tests).
        ping_interval: seconds of stream silence before the client pings.
        dead_peer_timeout: seconds after a ping without a frame before the socket is dead.
        max_reconnect_window: seconds without a socket before giving up (the service
            removes a guest detached for about two minutes).
        open_timeout: seconds allowed for one websocket handshake.
        queue_size: events held for the consumer; past it, messages are fetched later
            from the messages endpoint instead of queued (nothing is lost).
        dedupe_window: message ids remembered for de-duplication.
        typing_interval: seconds between typing indicators inside :meth:`GuestSession.typing`.
        leave_on_exit: whether closing the session leaves the conversation.
        proxy: the websocket proxy setting (``True``: from the environment, ``None``: none).
    """

    backoff: Backoff = attrs.field(factory=Backoff)
    ping_interval: float = 20.0
    dead_peer_timeout: float = 10.0
    max_reconnect_window: float = 120.0
    open_timeout: float = 10.0
    queue_size: int = 256
    dedupe_window: int = DEFAULT_WINDOW
    typing_interval: float = 4.0
    leave_on_exit: bool = True
    proxy: str | Literal[True] | None = True


def merge_options(options: SessionOptions | None, tuning: dict[str, Any]) -> SessionOptions:
    """``options`` with the keywords given to ``start`` / ``resume`` applied on top."""
    if options is None:
        return SessionOptions(**tuning)
    return attrs.evolve(options, **tuning) if tuning else options
