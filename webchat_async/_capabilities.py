"""``Capabilities``: what a guest session's protocol supports, so that a bot branches on
``session.capabilities`` rather than on the session's class."""

from __future__ import annotations

import attrs

__all__ = ["WEB_CHAT_V2", "WEB_MESSAGING", "Capabilities"]


@attrs.frozen
class Capabilities:
    """What a session can do beyond the shared vocabulary (``send_message``, ``typing()``,
    ``events()``).

    Attributes:
        attachments: files can be sent (``send_attachment``).
        rich_content: messages may carry structured content (quick replies, cards, ...) on
            their ``message`` model.
        roster: the session knows the members of the conversation (``members()``, member
            events).
        media_requests: the agent can ask the guest for a media session
            (``MediaRequestReceived``).
    """

    attachments: bool
    rich_content: bool
    roster: bool
    media_requests: bool


#: Web Chat v2 (:class:`~webchat_async.GuestSession`).
WEB_CHAT_V2 = Capabilities(attachments=False, rich_content=False, roster=True, media_requests=True)

#: Web Messaging (:class:`~webchat_async.messaging.MessagingSession`): no roster (the guest
#: never learns the conversation or its members), no media requests.
WEB_MESSAGING = Capabilities(
    attachments=True, rich_content=True, roster=False, media_requests=False
)
