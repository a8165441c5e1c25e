"""The protocol's rules in one place: the ended code, what a handshake status means, when a
chat is over. Pure; cited by the session, the feed and the stream.

See docs/protocol.md, sections "The event stream" and "What the documents leave open".
"""

from __future__ import annotations

import enum

from .models import MemberState

__all__ = [
    "ENDED_CODE",
    "Handshake",
    "chat_is_over",
    "classify_handshake",
    "is_ended_refusal",
]

#: Calls on a conversation that has ended for the guest answer 400 with this code.
ENDED_CODE = "chat.error.conversation.state"


class Handshake(enum.Enum):
    """What a refused websocket handshake status means."""

    AUTHENTICATION = "authentication"  # 401: the JWT is refused; final
    PERMISSION = "permission"  # 403: final
    ENDED = "ended"  # 400: the conversation is over for the guest (undocumented; final)
    FINAL = "final"  # another 4xx (404: an unknown conversation); final
    RETRY = "retry"  # 408, 429, 5xx: worth another attempt


def classify_handshake(status: int) -> Handshake:
    """The meaning of a refused handshake's HTTP status."""
    if status == 401:
        return Handshake.AUTHENTICATION
    if status == 403:
        return Handshake.PERMISSION
    if status == 400:
        return Handshake.ENDED
    if 400 <= status < 500 and status not in (408, 429):
        return Handshake.FINAL
    return Handshake.RETRY


def is_ended_refusal(status: int, code: str | None) -> bool:
    """Whether a REST error says the conversation has ended for the guest."""
    return status == 400 and code == ENDED_CODE


def chat_is_over(member_id: str, guest_member_id: str, state: MemberState | None) -> bool:
    """A chat is over for the guest when the guest's own member goes ``DISCONNECTED``."""
    return member_id == guest_member_id and state == MemberState.DISCONNECTED
