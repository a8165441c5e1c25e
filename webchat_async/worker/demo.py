"""A handler to try a fleet with: ``webchat-async worker webchat_async.worker.demo:echo``.

It uses only the events both protocols share (``MessageReceived.text`` and
``.from_guest``), so one worker runs it on Web Chat v2 and Web Messaging chats alike.
"""

from __future__ import annotations

from .._events import Event, MessageReceived
from ._chat import Chat

__all__ = ["echo"]


async def echo(chat: Chat, event: Event) -> None:
    """Answer each text message of the agent with ``echo: <text>``."""
    if isinstance(event, MessageReceived) and not event.from_guest and event.text:
        await chat.send_message(f"echo: {event.text}")
