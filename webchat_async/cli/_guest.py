"""The guest session the CLI drives, over either protocol: the one place where they differ.

The chat loop, the demo and the transcript speak the shared event vocabulary
(``MessageReceived.text`` / ``.from_guest``, ``TypingStarted``, ``ConversationEnded``,
``StreamDisconnected`` / ``StreamReconnected``). What only one protocol has goes through
:class:`Guest`:

============================  =========================  ==================================
                              Web Chat v2                Web Messaging
============================  =========================  ==================================
who starts the conversation   the agent joins at once    the guest's first message
the guest's own lines         ``sender.id`` = member id  ``from_guest`` (no member ids)
names of the others           the roster (``members()``)  the sender on each message
leaving                       ``leave()`` ends the chat  nothing to end: the socket closes,
                                                         the conversation stays (the token
                                                         reattaches it)
longest line                  4,000 (checked here)       the service says (4011)
media requests                answered                   never sent
============================  =========================  ==================================
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from .._capabilities import Capabilities
from .._events import Event
from .._validate import MAX_MESSAGE_LENGTH
from ..errors import ApiConnectionError, ApiError, MessagingError, SessionClosedError
from ..messaging import MessagingSession
from ..models import WebChatMemberInfo
from ..session import GuestSession

__all__ = ["Guest", "PROTOCOLS"]

#: The ``--protocol`` choices; the first is the default.
PROTOCOLS = ("webchat", "messaging")


class Guest:
    """A :class:`~webchat_async.GuestSession` or a
    :class:`~webchat_async.messaging.MessagingSession`, seen as the CLI needs it."""

    def __init__(self, session: GuestSession | MessagingSession) -> None:
        self.session = session

    @property
    def protocol(self) -> str:
        """``"webchat"`` or ``"messaging"``."""
        return "messaging" if isinstance(self.session, MessagingSession) else "webchat"

    @property
    def capabilities(self) -> Capabilities:
        """What the protocol supports (media requests, a roster, ...)."""
        return self.session.capabilities

    @property
    def guest_id(self) -> str | None:
        """The guest's member id on Web Chat v2; ``None`` on Web Messaging, which has no
        member ids (``MessageReceived.from_guest`` tells the guest's own lines)."""
        session = self.session
        return None if isinstance(session, MessagingSession) else session.member_id

    @property
    def starts_with_guest(self) -> bool:
        """Whether the conversation (and the agent) starts only with the guest's first
        message, as on Web Messaging; on Web Chat v2 the agent is routed at once."""
        return isinstance(self.session, MessagingSession)

    @property
    def max_length(self) -> int | None:
        """The longest line the CLI sends; ``None``: the service refuses what is too long
        (Web Messaging's 4011, reported as a line not sent)."""
        return None if isinstance(self.session, MessagingSession) else MAX_MESSAGE_LENGTH

    @property
    def leaving(self) -> str:
        """The line shown when the person leaves."""
        if isinstance(self.session, MessagingSession):
            return (
                "* leaving the chat; the conversation stays open "
                "(run again with the same WEBCHAT_MESSAGING_TOKEN to resume it)"
            )
        return "* leaving the chat"

    @property
    def send_errors(self) -> tuple[type[Exception], ...]:
        """What a refused send raises: shown as a line not sent, and chatting goes on (the
        end itself, if that is what it was, comes as ``ConversationEnded``)."""
        if isinstance(self.session, MessagingSession):
            return (MessagingError,)
        return (ApiError, ApiConnectionError)

    def events(self) -> AsyncIterator[Event]:
        """The session's events."""
        return self.session.events()

    async def send_message(self, text: str) -> None:
        """Send ``text``; returns once the service took it."""
        await self.session.send_message(text)

    async def send_typing(self) -> None:
        """Show the guest as typing."""
        await self.session.send_typing()

    def typing(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Show the guest as typing while the block runs."""
        return self.session.typing()

    async def members(self) -> Sequence[WebChatMemberInfo]:
        """The members, for their names (Web Chat v2); none on Web Messaging, where each
        message names its sender. Raises ``ApiError`` and the like when the listing fails."""
        session = self.session
        if isinstance(session, MessagingSession):
            return ()
        return await session.members()

    async def answer_media_request(self, request_id: str, *, accept: bool) -> str | None:
        """Accept or decline a media request (Web Chat v2, the only protocol that sends
        them); returns the request's new state."""
        session = self.session
        if isinstance(session, MessagingSession):
            raise SessionClosedError("Web Messaging has no media requests")
        if accept:
            answered = await session.accept_media_request(request_id)
        else:
            answered = await session.decline_media_request(request_id)
        return None if answered.state is None else f"{answered.state}"

    async def leave(self) -> None:
        """Web Chat v2: leave the chat (it ends). Web Messaging: nothing to send, a guest
        cannot end the conversation; closing the session (``async with``) closes the socket
        and the conversation stays open for the agent and for the same token."""
        session = self.session
        if isinstance(session, GuestSession):
            await session.leave()
