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
(docs/messaging-protocol.md); :class:`CoreOptions` tunes that core.
"""

from __future__ import annotations

from ._options import CoreOptions
from ._session import MessagingSession

__all__ = ["CoreOptions", "MessagingSession"]
