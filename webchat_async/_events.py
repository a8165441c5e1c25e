"""Typed events of the guest event stream, and the decoding of one websocket frame.

Pure: no I/O. :func:`decode_frame` turns one text frame (docs/protocol.md#frames)
into an :class:`Event`, or ``None`` for the frames that only keep the socket alive
(heartbeats and pongs). It never raises: a frame that is too large, not JSON, misses a
field, has a wrong type or an unknown topic becomes :class:`UnknownEvent`, logged at DEBUG
(the text redacted), so a server that changes under an old client cannot crash it.

Each frame is parsed once with :func:`json.loads` and structured with the one cattrs
converter; topics are told apart with plain string tests (no regular expression per frame).

Events are small frozen attrs classes; use them with ``match``:

```python
match event:
    case MessageReceived(message=m):
        print(m.sender.id, m.body)
    case ConversationEnded(reason=r):
        ...
```
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any, Generic, TypeAlias

import attrs

from ._convert import (
    JSONTooDeep,
    escape_surrogates,
    lone_surrogate_path,
    parse_datetime,
    parse_json_checked,
    structurer,
)
from ._redact import clip, preview
from .errors import DecodeError
from .models import (
    BodyType,
    MemberState,
    WebChatGuestMediaRequest,
    WebChatMemberInfo,
    WebChatMessage,
    WebChatTyping,
)

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    from .messaging._models import StructuredMessage

    # The message model of the protocol that produced the event; Web Chat v2's when not
    # said, so that ``MessageReceived`` written alone keeps meaning what it always meant.
    M = TypeVar("M", WebChatMessage, StructuredMessage, default=WebChatMessage)
else:
    from typing import TypeVar

    M = TypeVar("M")

__all__ = [
    "MAX_FRAME_SIZE",
    "ConversationEnded",
    "Event",
    "MediaRequestReceived",
    "MemberJoined",
    "MemberLeft",
    "MemberStateChanged",
    "MessageReceived",
    "SessionClosed",
    "SessionExpiring",
    "SocketClosing",
    "StreamDisconnected",
    "StreamReconnected",
    "TypingStarted",
    "UnknownEvent",
    "decode_frame",
]

logger = logging.getLogger("webchat_async.events")

#: Frames longer than this (in characters) are not parsed (docs/protocol.md#reconnecting:
#: a client may bound frames at 1 MiB; a message body is at most 4,000 characters).
MAX_FRAME_SIZE = 1024 * 1024

# How much of an unparsed frame an UnknownEvent keeps: enough to debug, never megabytes.
_RAW_LIMIT = 64 * 1024


@attrs.frozen
class Event:
    """Base class of every event a :class:`~webchat_async.session.GuestSession` yields."""

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON types, for ``json.dumps``: a ``"type"`` key naming the
        event, camelCase keys, the wire's names for model fields, ISO 8601 timestamps
        (the schema: docs/events.md#json)."""
        from ._event_json import event_to_dict

        return event_to_dict(self)


@attrs.frozen
class MessageReceived(Event, Generic[M]):
    """A message in the conversation, from any member, the guest's own echoes included.

    The same class on both protocols: ``text``, ``message_id`` and ``from_guest`` mean the
    same on each; the protocol's own data is on ``message`` (a
    :class:`~webchat_async.models.WebChatMessage` on Web Chat v2, where
    ``message.body_type`` tells text (``standard``) from ``notice``, ``member-join``,
    ``member-leave`` and ``media-request`` messages).

    ``from_guest`` is true for the guest's own message echoed back. It is derived from the
    message and the session, so it takes no part in equality.
    """

    message: M
    from_guest: bool = attrs.field(default=False, eq=False)

    @property
    def message_id(self) -> str:
        """The message id (always set: frames without one are :class:`UnknownEvent`)."""
        return self.message.id or ""

    @property
    def text(self) -> str | None:
        """The message's text; ``None`` for notices and events without text."""
        message = self.message
        if isinstance(message, WebChatMessage):
            kind = message.body_type
            return message.body if kind is None or kind == BodyType.STANDARD else None
        return message.text

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`Event.to_dict`, with ``messageId`` and ``text`` beside the fields: the
        two properties every consumer reads, so a browser needs neither protocol's model."""
        out = super().to_dict()
        out["messageId"] = self.message_id
        out["text"] = self.text
        return out


@attrs.frozen
class TypingStarted(Event):
    """A member is typing (it sends no "stopped typing"; treat it as valid for a few seconds)."""

    member_id: str
    conversation_id: str | None = None
    timestamp: datetime.datetime | None = None
    typing: WebChatTyping | None = None


@attrs.frozen
class MemberStateChanged(Event):
    """A member's state changed: ``ALERTING`` mostly (see :class:`MemberJoined`/``MemberLeft``).

    The stream announces only the member id and state; the session fetches the member, so
    ``member`` carries its role and name when the fetch succeeded.
    """

    member_id: str
    state: MemberState | None = None
    member: WebChatMemberInfo = attrs.field(factory=WebChatMemberInfo)
    conversation_id: str | None = None
    timestamp: datetime.datetime | None = None


@attrs.frozen
class MemberJoined(MemberStateChanged):
    """A member is ``CONNECTED`` (an agent joined; the guest itself is announced too)."""


@attrs.frozen
class MemberLeft(MemberStateChanged):
    """A member is ``DISCONNECTED``."""


@attrs.frozen
class MediaRequestReceived(Event):
    """The agent asks the guest for a media session (answer with ``accept_media_request``)."""

    request: WebChatGuestMediaRequest


@attrs.frozen
class StreamDisconnected(Event):
    """The event stream dropped; the session reconnects on its own.

    ``reason`` is a short text (``"closed"``, ``"dead peer"``, ``"socket closing"``, ...),
    ``code`` the websocket close code when there was one.
    """

    reason: str
    code: int | None = None


@attrs.frozen
class StreamReconnected(Event):
    """The stream is back; the ``backfilled`` messages missed meanwhile were yielded just before.

    ``attempts`` counts the connection attempts it took, ``downtime`` the seconds without
    a socket.
    """

    backfilled: int = 0
    attempts: int = 1
    downtime: float = 0.0


@attrs.frozen
class ConversationEnded(Event):
    """The conversation is over for the guest; the event stream ends after this event.

    ``history_complete`` is false when some messages may be missing: the chat ended while
    the stream was detached and the messages endpoint refused the read of those missed,
    or more arrived while the consumer was behind than the session could hold (a warning
    says how many). See docs/guarantees.md.
    """

    reason: str
    history_complete: bool = True


@attrs.frozen
class UnknownEvent(Event):
    """A frame this version does not understand (kept as text, at most 64 KiB of it)."""

    raw: str = attrs.field(repr=lambda raw: repr(preview(raw, 200)))
    reason: str = "unknown"


@attrs.frozen
class SessionExpiring(Event):
    """Web Messaging: the session expires at ``expires_at`` (epoch seconds) unless the
    guest or the session's keepalive acts; ``remaining`` seconds were left when it was said.
    """

    expires_at: float
    remaining: float


@attrs.frozen
class SessionClosed(Event):
    """Web Messaging: the service closed this socket for good (``ConnectionClosedEvent``:
    the token connected elsewhere, the conversation was cleared, too many sockets)."""

    reason: str


@attrs.frozen
class SocketClosing(Event):
    """Control frame ``v2.system.socket_closing``: the server will close the socket soon.

    Consumed by the stream (it reconnects); a session never yields it.
    """


# Called for every frame: each looks its class's structure function up once.
_structure_message = structurer(WebChatMessage)

# One MessageReceived per message frame, built as the converter builds models: attrs's
# frozen __init__ stores each field through a bound object.__setattr__ (~3.7k of the ~65k
# instructions a message frame's decoding costs); the slots' own setters store the same
# values (the class has no validator, converter or post-init hook).
_new_event = object.__new__
_set_message = MessageReceived.__dict__["message"].__set__
_set_from_guest = MessageReceived.__dict__["from_guest"].__set__
_structure_typing = structurer(WebChatTyping)
_structure_member = structurer(WebChatMemberInfo)
_structure_media_request = structurer(WebChatGuestMediaRequest)

_HEARTBEAT = "WebSocket Heartbeat"
_PONG = "pong"
_CHATS = "v2.conversations.chats."


def decode_frame(text: str | bytes) -> Event | None:
    """Decode one websocket frame; ``None`` for heartbeats and pongs.

    Never raises: anything unexpected becomes :class:`UnknownEvent`.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        # The socket hands over payloads as bytes (a text frame's UTF-8 is checked here; a
        # binary frame is tolerated if it is UTF-8).
        raw = bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _unknown(raw.decode("utf-8", "replace"), "not UTF-8")
    if len(text) > MAX_FRAME_SIZE:
        return _unknown(text, "frame too large")
    try:
        frame, unchecked = parse_json_checked(text)
    except JSONTooDeep as exc:
        return _unknown(text, str(exc))
    except ValueError:
        return _unknown(text, "invalid JSON")
    if not isinstance(frame, dict):
        return _unknown(text, "not an object")
    try:
        event = _classify(frame, text)
    except (DecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        return _unknown(text, f"bad event: {type(exc).__name__}")
    if unchecked and event is not None and _invalid_unicode(event):
        return _unknown(text, "invalid unicode: a lone surrogate")
    return event


def _invalid_unicode(event: Event) -> bool:
    # A lone surrogate cannot be encoded: as an id it would fail the next request that
    # carries it, as a text whatever prints it. Such a field does not decode
    # (docs/protocol.md#unknown-malformed-stored-data): the frame is an unknown event.
    return not isinstance(event, UnknownEvent) and lone_surrogate_path(event) is not None


def _classify(frame: dict[str, Any], text: str) -> Event | None:
    topic = frame.get("topicName")
    body = frame.get("eventBody")
    metadata = frame.get("metadata")
    kind = metadata.get("type") if isinstance(metadata, dict) else None
    # Almost every frame is a message: told apart first, with the cheapest tests first.
    if (
        kind == "message"
        and isinstance(topic, str)
        and isinstance(body, dict)
        and topic.startswith(_CHATS)
        and topic.endswith(".messages")
    ):
        return _message(body, text)
    if not isinstance(topic, str):
        return _unknown(text, "no topicName")
    if topic == "channel.metadata":
        message = body.get("message") if isinstance(body, dict) else None
        if message == _HEARTBEAT or message == _PONG:
            return None
        return _unknown(text, "unknown channel.metadata")
    if topic == "v2.system.socket_closing":
        return SocketClosing()
    if not isinstance(body, dict):
        return _unknown(text, "no eventBody")
    if topic.startswith(_CHATS):
        if topic.endswith(".messages"):
            if kind == "typing-indicator":  # "message": told apart above
                return _typing(body, text)
        elif topic.endswith(".members"):
            if kind == "member-change":
                return _member_change(body, text)
        elif topic.endswith((".mediarequests", ".mediarequest")):
            # Not documented; docs/protocol.md#frames [choice]: tolerated when a server sends one.
            return _media_request(body, text)
    if kind == "media-request":
        return _media_request(body, text)
    return _unknown(text, "unknown topic or type")


def _message(body: dict[str, Any], text: str) -> Event:
    message = _structure_message(body)
    if not message.id:
        return _unknown(text, "message without id")
    event: MessageReceived[WebChatMessage] = _new_event(MessageReceived)
    _set_message(event, message)
    _set_from_guest(event, False)
    return event


def _typing(body: dict[str, Any], text: str) -> Event:
    typing = _structure_typing(body)
    sender = typing.sender.id if typing.sender is not None else None
    if not sender:
        return _unknown(text, "typing without sender")
    conversation = typing.conversation.id if typing.conversation is not None else None
    return TypingStarted(sender, conversation, typing.timestamp, typing)


def _member_change(body: dict[str, Any], text: str) -> Event:
    member = _structure_member(body.get("member"))
    if not member.id:
        return _unknown(text, "member-change without member id")
    conversation = body.get("conversation")
    conversation_id = conversation.get("id") if isinstance(conversation, dict) else None
    raw_time = body.get("timestamp")
    timestamp = None if raw_time is None else parse_datetime(raw_time)
    return MemberStateChanged(
        member.id,
        member.state,
        member,
        conversation_id if isinstance(conversation_id, str) else None,
        timestamp,
    )


def _media_request(body: dict[str, Any], text: str) -> Event:
    request = _structure_media_request(body)
    if not request.id:
        return _unknown(text, "media request without id")
    return MediaRequestReceived(request)


def _unknown(text: str, reason: str) -> UnknownEvent:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("unknown stream frame (%s): %s", reason, clip(text))
    # Printable whatever the frame held (a str frame may hold raw surrogates).
    return UnknownEvent(escape_surrogates(text[:_RAW_LIMIT]), reason)


#: Every event a session yields, as a closed union: ``match`` on it and end with
#: ``case _: assert_never(event)`` to have mypy check that every kind is handled.
#: (:class:`MemberJoined` and :class:`MemberLeft` are :class:`MemberStateChanged` too, so a
#: ``case MemberStateChanged()`` covers all three.)
AnyEvent: TypeAlias = (
    MessageReceived
    | TypingStarted
    | MemberJoined
    | MemberLeft
    | MemberStateChanged
    | MediaRequestReceived
    | StreamDisconnected
    | StreamReconnected
    | ConversationEnded
    | UnknownEvent
    | SessionExpiring
    | SessionClosed
)
