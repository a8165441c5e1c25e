"""A handler to try a fleet with: ``webchat-async worker webchat_async.worker.demo:echo``."""

from __future__ import annotations

from .._events import Event, MessageReceived
from ._chat import Chat

__all__ = ["echo"]


async def echo(chat: Chat, event: Event) -> None:
    """Answer each text message of the agent with ``echo: <text>``."""
    if (
        isinstance(event, MessageReceived)
        and not chat.is_own(event.message)
        and event.message.body
        and event.message.body_type in (None, "standard")
    ):
        await chat.send_message(f"echo: {event.message.body}")
