"""What the Web Messaging service's codes mean, in one place (docs/messaging-protocol.md#errors).

The core cites these rules; nothing else maps a code to an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._convert import dump_json
from ..errors import (
    AttachmentError,
    CustomAttributesTooLargeError,
    MessageRateLimitError,
    MessageTooLongError,
    MessagingError,
    SessionExpiredError,
    SessionNotFoundError,
    SessionReadOnlyError,
)
from ._models import PresenceEvent

if TYPE_CHECKING:
    from ._models import SessionResponse, StructuredMessage
    from ._sends import Send

__all__ = [
    "MAX_CUSTOM_ATTRIBUTES_BYTES",
    "attachment_refusal",
    "attachment_refusal_for",
    "custom_attributes_size",
    "ends_conversation",
    "error_for_code",
    "expiry_seconds",
    "expired_error",
    "read_only_error",
]

#: Custom attributes larger than this (bytes of their JSON) are refused with 4013, unless
#: the ``SessionResponse`` says otherwise (``maxCustomDataBytes``).
MAX_CUSTOM_ATTRIBUTES_BYTES = 2048

# The service's texts are shown to the caller; bounded, they cannot fill a log.
_TEXT_LIMIT = 300

_ATTACHMENT_CODES = frozenset({4001, 4002, 4003, 4004, 4005, 4008, 4009, 4010})


def custom_attributes_size(attributes: Mapping[str, str]) -> int:
    """The size the service counts: the UTF-8 bytes of the attributes' JSON object."""
    return len(dump_json(dict(attributes)).encode("utf-8", "surrogatepass"))


def error_for_code(
    code: int | None, text: str | None, *, retry_after: float | None = None
) -> MessagingError:
    """The typed error for a refusal with the service's ``code`` and ``text``."""
    message = (text or "refused")[:_TEXT_LIMIT]
    if code == 409:
        return SessionReadOnlyError(message, code=code)
    if code == 4006:
        return SessionExpiredError(message, code=code)
    if code == 4007:
        return SessionNotFoundError(message, code=code)
    if code == 4011:
        return MessageTooLongError(message, code=code)
    if code == 4013:
        return CustomAttributesTooLargeError(message, code=code)
    if code == 4029:
        return MessageRateLimitError(message, retry_after=retry_after)
    if code in _ATTACHMENT_CODES:
        return AttachmentError(message, code=code)
    return MessagingError(message, code=code)


def read_only_error(code: int | None) -> SessionReadOnlyError:
    """Sends after the conversation ended (409, or the ``readOnly`` Disconnect)."""
    return SessionReadOnlyError("the conversation has ended; the session is read-only", code=code)


def expired_error(code: int | None) -> MessagingError:
    """The session is gone: ``SessionExpiredEvent`` or 4006 (expired), 4007 (not found)."""
    if code == 4007:
        return SessionNotFoundError("the service does not know this session", code=code)
    return SessionExpiredError("the session expired", code=code)


def attachment_refusal(code: int | None, text: str | None) -> AttachmentError:
    """An attachment refused before its upload (``code`` ``None``) or by the service."""
    return AttachmentError((text or "the attachment was refused")[:_TEXT_LIMIT], code=code)


def attachment_refusal_for(send: Send, session: SessionResponse | None) -> AttachmentError | None:
    """Why ``send``'s file is refused before any upload (``None``: it may go): checked
    against ``allowedMedia`` and ``blockedExtensions`` (docs/messaging-protocol.md#attachments)."""
    if session is None:
        return None
    name = (send.file_name or "").lower()
    for blocked in session.blocked_extensions:
        extension = blocked.lower().lstrip(".")
        if extension and name.endswith("." + extension):
            return attachment_refusal(None, f"the extension .{extension} is blocked")
    media = session.allowed_media
    if media is None:
        return attachment_refusal(None, "the deployment accepts no attachments")
    content_type = (send.content_type or "").lower()
    if media.file_types and not any(_type_matches(t, content_type) for t in media.file_types):
        return attachment_refusal(None, f"the file type {content_type!r} is not allowed")
    limit = media.max_file_size_kb
    if limit is not None and send.size is not None and send.size > limit * 1024:
        return attachment_refusal(None, f"the file is larger than {limit} KB")
    return None


def _type_matches(allowed: str, content_type: str) -> bool:
    allowed = allowed.lower()
    if allowed in ("*/*", "*"):
        return True
    if allowed.endswith("/*"):
        return content_type.startswith(allowed[:-1])
    return allowed == content_type


def expiry_seconds(value: object) -> float | None:
    """An expiry field (an int, or a string in echo metadata) as seconds, if sane."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit() and len(value) < 16:
        return float(int(value))
    if isinstance(value, int) and 0 < value < 10**15:
        return float(value)
    return None


def ends_conversation(message: StructuredMessage) -> bool:
    """A ``Presence Disconnect`` with ``readOnly`` (docs/messaging-protocol.md#the-end)."""
    if message.metadata.get("readOnly") != "true":
        return False
    return any(type(e) is PresenceEvent and e.type == "Disconnect" for e in message.events)
