"""Web Messaging server frames as typed values: one class per ``class`` of
docs/messaging-protocol.md#frames, and the message model shared by the socket and the history.

Pure data; :mod:`._wire` builds them from JSON.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeAlias

import attrs

from .._redact import mask, preview

__all__ = [
    "AllowedMedia",
    "AttachmentContent",
    "AttachmentDeleted",
    "Body",
    "ButtonResponseContent",
    "ConnectionClosed",
    "Content",
    "Frame",
    "GenerateUrlError",
    "JwtResponse",
    "Logout",
    "MessageEvent",
    "Participant",
    "PresenceEvent",
    "PresignedUrl",
    "QuickReplyContent",
    "RawContent",
    "RawEvent",
    "SessionCleared",
    "SessionExpired",
    "SessionResponse",
    "StringFrame",
    "StructuredMessage",
    "TooManyRequests",
    "TypingEvent",
    "Unknown",
    "UploadFailure",
    "UploadSuccess",
]


@attrs.frozen
class Participant:
    """``channel.from`` of a message: who wrote it, as the guest may see it."""

    nickname: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    image: str | None = None


@attrs.frozen
class AttachmentContent:
    """``Attachment`` content: a file in a message."""

    id: str | None = None
    url: str | None = None
    filename: str | None = None
    file_size: int | None = None
    media_type: str | None = None
    mime: str | None = None
    sha256: str | None = None
    text: str | None = None


@attrs.frozen
class QuickReplyContent:
    """``QuickReply`` content: a reply the guest can pick."""

    text: str | None = None
    payload: str | None = None
    action: str | None = None


@attrs.frozen
class ButtonResponseContent:
    """``ButtonResponse`` content: the guest's answer to a button."""

    text: str | None = None
    payload: str | None = None
    type: str | None = None


@attrs.frozen
class RawContent:
    """A content type this version does not model (``Card``, ``Carousel``, ...), kept raw."""

    content_type: str
    raw: Mapping[str, Any] = attrs.field(repr=False)


Content: TypeAlias = AttachmentContent | QuickReplyContent | ButtonResponseContent | RawContent


@attrs.frozen
class TypingEvent:
    """``Typing`` event; ``duration`` in milliseconds when the agent's client gives one."""

    type: str
    duration: int | None = None


@attrs.frozen
class PresenceEvent:
    """``Presence`` event: ``Join``, ``Disconnect``, ``Clear``, ``SignIn``, ..."""

    type: str


@attrs.frozen
class RawEvent:
    """An event type this version does not model (``CoBrowse``, ``Video``, ...), kept raw."""

    event_type: str
    raw: Mapping[str, Any] = attrs.field(repr=False)


MessageEvent: TypeAlias = TypingEvent | PresenceEvent | RawEvent


@attrs.frozen
class StructuredMessage:
    """A message, from the socket or the history (docs/messaging-protocol.md#messages).

    ``direction`` is ``"Inbound"`` for the guest's own (echoed) messages and
    ``"Outbound"`` for the agent's or bot's. ``time`` is ``channel.time``, the order the
    client restores; ``metadata`` keeps the entries whose values are strings.
    """

    id: str | None
    type: str
    direction: str | None = None
    text: str | None = None
    time: datetime.datetime | None = None
    channel_message_id: str | None = None
    sender: Participant | None = None
    content: tuple[Content, ...] = ()
    events: tuple[MessageEvent, ...] = ()
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    originating_entity: str | None = None

    @property
    def inbound(self) -> bool:
        """Whether this is the guest's own message."""
        return self.direction == "Inbound"


@attrs.frozen
class AllowedMedia:
    """What the deployment accepts from the guest: file types and the size limit."""

    file_types: tuple[str, ...] = ()
    max_file_size_kb: int | None = None


@attrs.frozen
class SessionResponse:
    """The answer to ``configureSession`` (and, ``connected=False``, to ``closeSession``)."""

    connected: bool = False
    new_session: bool = False
    read_only: bool = False
    cleared_existing_session: bool = False
    allowed_media: AllowedMedia | None = None
    blocked_extensions: tuple[str, ...] = ()
    max_custom_data_bytes: int | None = None
    duration_seconds: int | None = None
    expiration_date: int | None = None
    auto_started: bool = False


@attrs.frozen
class PresignedUrl:
    """``PresignedUrlResponse``: where to ``PUT`` (or get) an attachment's bytes.

    The URL carries a signature that grants the upload: it is kept out of the repr.
    """

    attachment_id: str
    url: str = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    file_name: str | None = None
    file_size: int | None = None
    file_type: str | None = None


@attrs.frozen
class AttachmentDeleted:
    """``AttachmentDeletedResponse``."""

    attachment_id: str


@attrs.frozen
class UploadSuccess:
    """``UploadSuccessEvent``: the bytes were stored and scanned."""

    attachment_id: str
    download_url: str | None = attrs.field(default=None, repr=False)
    timestamp: str | None = None


@attrs.frozen
class UploadFailure:
    """``UploadFailureEvent``: the upload was refused (``error_code`` 4001-4010)."""

    attachment_id: str
    error_code: int | None = None
    error_message: str | None = None
    timestamp: str | None = None


@attrs.frozen
class GenerateUrlError:
    """``GenerateUrlError``: no upload URL for this attachment (the code is in the body)."""

    attachment_id: str | None = None
    error_code: int | None = None
    error_message: str | None = None


@attrs.frozen
class JwtResponse:
    """``JwtResponse``: the history endpoint's bearer (a secret) and its expiry (epoch s)."""

    jwt: str = attrs.field(repr=mask)
    exp: int | None = None


@attrs.frozen
class SessionExpired:
    """``SessionExpiredEvent``: the session is over; its transcript is reset."""


@attrs.frozen
class TooManyRequests:
    """``TooManyRequestsErrorMessage`` (4029): the message was not stored.

    ``retry_after`` is the service's value as sent (seconds; ``None`` if absent or not a
    number): the core bounds it (docs/messaging-protocol.md#rate-limit).
    """

    retry_after: float | None = None
    error_code: int | None = None
    error_message: str | None = None


@attrs.frozen
class ConnectionClosed:
    """``ConnectionClosedEvent``: the service closes this socket (``reason`` if given)."""

    reason: str | None = None


@attrs.frozen
class Logout:
    """``LogoutEvent``: an authenticated session signed out."""


@attrs.frozen
class SessionCleared:
    """``SessionClearedEvent``: the conversation was cleared."""


@attrs.frozen
class StringFrame:
    """A ``class: "string"`` frame: an error (``code`` on the :class:`Frame`) or plain text."""

    text: str


@attrs.frozen
class Unknown:
    """A frame this version does not understand (``reason``), kept as text (at most 64 KiB)."""

    reason: str
    class_name: str | None = None
    raw: str = attrs.field(default="", repr=lambda raw: repr(preview(raw, 200)))


Body: TypeAlias = (
    SessionResponse
    | StructuredMessage
    | PresignedUrl
    | AttachmentDeleted
    | UploadSuccess
    | UploadFailure
    | GenerateUrlError
    | JwtResponse
    | SessionExpired
    | TooManyRequests
    | ConnectionClosed
    | Logout
    | SessionCleared
    | StringFrame
    | Unknown
)


class Frame(NamedTuple):
    """One server frame: ``response`` (answers the request with ``tracing_id``) or pushed.

    A named tuple, not an attrs class: one is made per frame, and a tuple is made in C.
    """

    response: bool
    code: int
    body: Body
    tracing_id: str | None = None
