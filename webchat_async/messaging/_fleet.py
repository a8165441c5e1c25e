"""What a worker fleet needs from :class:`MessagingSession` beyond its public calls.

A worker records each reply in its store *before* it is sent, with the
``customMessageId`` the message will carry, so that a worker taking the chat over after a
crash finds the reply in the history by that id (spec §7.2) instead of sending it again;
and a session that takes a chat over from another process starts with no room in its
rate window (the other process may have just sent). Both are small entry points on the
session's core, kept here so that the session's public API stays the one of issue 20.
"""

from __future__ import annotations

from .._validate import check_no_controls
from ..errors import StreamError
from ._models import StructuredMessage
from ._session import MessagingSession

__all__ = ["MAX_CLIENT_ID", "hold_sends", "lost_contact", "send_identified"]

#: Longest ``customMessageId`` a caller may choose (a UUID is 36 characters).
MAX_CLIENT_ID = 128


async def send_identified(
    session: MessagingSession, text: str, client_id: str
) -> StructuredMessage:
    """:meth:`MessagingSession.send_message` with the ``customMessageId`` chosen by the
    caller (``client_id``: 1 to 128 characters, no control characters); returns the echo."""
    if not isinstance(text, str) or not text:
        raise ValueError("text: the message text must be a non-empty str")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID:
        raise ValueError(f"client_id must be a str of 1 to {MAX_CLIENT_ID} characters")
    check_no_controls(client_id, "client_id")
    session._check_open()
    send_id = session._core.send_text(text, session._clock(), None, custom_id=client_id)
    message = await session._completion(send_id)
    if message is None:  # pragma: no cover - a text always completes with its echo
        raise StreamError("the send completed without its echo")
    return message


def hold_sends(session: MessagingSession, seconds: float) -> None:
    """No message or typing indicator leaves ``session`` for ``seconds`` from now (the
    rate window starts full)."""
    if not seconds >= 0:
        raise ValueError("seconds must be >= 0")
    session._core.hold_sends(session._clock() + seconds)


def lost_contact(session: MessagingSession) -> bool:
    """Whether the session ended only because no socket could be configured in time (the
    conversation may go on: another process may reattach it), not because the service
    ended, expired or closed it."""
    return type(session._core.failure) is StreamError
