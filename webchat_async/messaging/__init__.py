"""Web Messaging, Genesys' current guest protocol (docs/messaging.md).

::

    from webchat_async.messaging import MessagingSession

    async with MessagingSession.start(
        deployment_id=DEP, region="eu-west-1", origin="https://shop.example"
    ) as session:
        await session.send_message("Hello")
        async for event in session:
            ...

:class:`MessagingSession` is the asyncio driver of a pure protocol core
(docs/messaging-protocol.md); :class:`CoreOptions` tunes that core. A
:class:`~webchat_async.MessageReceived` of this protocol carries a :class:`StructuredMessage`
(``event.message``), whose parts are the other classes here.
"""

from __future__ import annotations

from ._models import (
    AttachmentContent,
    ButtonResponseContent,
    Participant,
    PresenceEvent,
    QuickReplyContent,
    RawContent,
    RawEvent,
    StructuredMessage,
    TypingEvent,
)
from ._options import CoreOptions
from ._session import MessagingSession

__all__ = [
    "AttachmentContent",
    "ButtonResponseContent",
    "CoreOptions",
    "MessagingSession",
    "Participant",
    "PresenceEvent",
    "QuickReplyContent",
    "RawContent",
    "RawEvent",
    "StructuredMessage",
    "TypingEvent",
]
