"""Decoding of Web Messaging server frames, pure.

:func:`decode_frame` reads one server frame (docs/messaging-protocol.md#frames) into a
:class:`~._models.Frame` whose ``body`` is one typed class per ``class`` value
(:mod:`._models`); client actions are written by :mod:`._actions`.

The server is not trusted (docs/messaging-protocol.md#hostile-frames): :func:`decode_frame`
never raises. A frame that is too long, not JSON, nested too deeply, has a field of the
wrong type or a text with a lone surrogate gives a :class:`Frame` with an :class:`Unknown`
body naming the reason; an unknown ``class`` is kept raw the same way; unknown keys are
ignored; unknown content and event types are kept raw (:class:`RawContent`,
:class:`RawEvent`).

Decoding is hand-written rather than through the cattrs converter: the shapes are small,
the checks are per field, and one event costs one ``json.loads`` plus a few dict lookups.
"""

from __future__ import annotations

import datetime
import functools
import re
import threading
from collections.abc import Callable
from typing import Any

from .._convert import (
    FROMISOFORMAT_TAKES_Z,
    JSONTooDeep,
    parse_datetime,
    parse_json,
    parse_json_fast,
    slot_builder,
)
from ._models import (
    AllowedMedia,
    AttachmentContent,
    AttachmentDeleted,
    Body,
    ButtonResponseContent,
    ConnectionClosed,
    Content,
    Frame,
    GenerateUrlError,
    JwtResponse,
    Logout,
    MessageEvent,
    Participant,
    PresenceEvent,
    PresignedUrl,
    QuickReplyContent,
    RawContent,
    RawEvent,
    SessionCleared,
    SessionExpired,
    SessionResponse,
    StringFrame,
    StructuredMessage,
    TooManyRequests,
    TypingEvent,
    Unknown,
    UploadFailure,
    UploadSuccess,
)
from ._outputs import HistoryPage

__all__ = ["MAX_FRAME_SIZE", "MAX_PAGE_SIZE", "decode_frame", "decode_message", "decode_page"]

#: Frames longer than this (characters) are not parsed (docs/messaging-protocol.md#hostile-frames).
MAX_FRAME_SIZE = 1024 * 1024

#: History page bodies longer than this (characters) are refused: 100 entities of the
#: largest message fit many times over (docs/messaging-protocol.md#history).
MAX_PAGE_SIZE = 8 * 1024 * 1024

# Entities read from one page at most, whatever the page claims.
_MAX_ENTITIES = 500

# How much of an unparsed frame an Unknown keeps: enough to debug, never megabytes.
_RAW_LIMIT = 64 * 1024

# A JSON escape of a UTF-16 surrogate; only then can a parsed text hold a lone one (a str
# decoded from UTF-8 cannot).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class _Bad(Exception):
    """A field of the wrong type: the frame is malformed."""


class _Inexact(Exception):
    """A raw value kept holds a float that may be an integer past 64 bits as orjson read
    it: the frame is decoded again from an exact parse (decode_frame)."""


# Integers kept are 64-bit: where both parsers read them exactly, so that no result
# depends on whether orjson is installed (it reads a larger one as a float).
_MIN_INT = -(2**63)
_MAX_INT = 2**63 - 1

_Z_SHORTCUT = FROMISOFORMAT_TAKES_Z
# Frame(...) without the named tuple's own __new__ (a Python function): the tuple is made
# in C. Every field is given, so the defaults do not matter.
_new_frame: Callable[[tuple[bool, int, Body, str | None]], Frame] = functools.partial(
    tuple.__new__, Frame
)
# StructuredMessage(...) of every field, positional, without attrs's per-field setattr.
_new_message = slot_builder(StructuredMessage)
_fromisoformat = datetime.datetime.fromisoformat

# Set while decode_frame decodes a frame again from json.loads' exact parse.
_exact_pass = threading.local()


def decode_frame(data: str | bytes) -> Frame:
    """Decode one server frame. Never raises: anything unexpected gives an :class:`Unknown`.

    The socket hands frames over as the bytes it read (UTF-8 is checked here, not by a
    decode to ``str`` that the JSON parser would only encode back).
    """
    if type(data) is not str and type(data) is not bytes:
        other: Any = data  # a bytearray or a memoryview, whatever the annotation says
        try:
            data = bytes(other)
        except TypeError:
            return _unknown_frame("", "not a text frame")
    if len(data) > MAX_FRAME_SIZE:
        return _unknown_frame(data, "frame too large")
    try:
        frame, exact = parse_json_fast(data)  # bytes: both parsers refuse bad UTF-8
    except JSONTooDeep:
        return _unknown_frame(data, "JSON nested too deeply")
    except ValueError:
        return _unknown_frame(data, "invalid JSON" if _utf8(data) else "frame not UTF-8")
    if type(frame) is not dict:
        return _unknown_frame(data, "not an object")
    # A backslash first: one memchr, where most frames have none (find, not "in": for a
    # bytes needle bytes.__contains__ first raises and clears a TypeError).
    backslash = data.find(b"\\") if isinstance(data, bytes) else data.find("\\")
    if backslash != -1 and _may_hold_surrogate(data) and _has_lone_surrogate(frame):
        return _unknown_frame(data, "text with a lone surrogate")
    kind = frame.get("type")
    code = frame.get("code")
    tracing_id = frame.get("tracingId")
    class_name = frame.get("class")
    if (
        type(kind) is not str
        or type(code) is not int
        or not _MIN_INT <= code <= _MAX_INT
        or type(class_name) is not str
        or (tracing_id is not None and type(tracing_id) is not str)
    ):
        return _unknown_frame(data, "bad envelope")
    decode = _BODIES.get(class_name)
    if decode is None:
        body: Body = Unknown("unknown class", class_name, _raw(data))
    else:
        try:
            try:
                body = decode(frame.get("body"))
            except _Inexact:
                body = _exactly(decode, frame if exact else parse_json(data))
        except (_Bad, TypeError, ValueError, AttributeError) as exc:
            reason = str(exc) if isinstance(exc, _Bad) else f"bad body: {type(exc).__name__}"
            body = Unknown(reason, class_name, _raw(data))
    return _new_frame((kind == "response", code, body, tracing_id))


def _exactly(decode: Callable[[Any], Body], frame: Any) -> Body:
    """The body decoded again from an exact parse (parse_json's): a raw value kept held a
    float that orjson may have read from an integer past 64 bits."""
    _exact_pass.active = True
    try:
        return decode(frame.get("body"))
    finally:
        _exact_pass.active = False


def decode_message(data: Any) -> StructuredMessage | None:
    """A history entity (already parsed JSON) as a message; ``None`` if it is malformed."""
    try:
        return _message(data)
    except (_Bad, TypeError, ValueError, AttributeError):
        return None


def decode_page(text: str | bytes) -> HistoryPage | None:
    """A history page body (docs/messaging-protocol.md#history); ``None`` when it is not one
    (too large, not JSON, no ``entities`` list, a lone surrogate). Entries that do not
    decode are skipped and counted; never raises."""
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")
        except (UnicodeDecodeError, TypeError):
            return None
    if len(text) > MAX_PAGE_SIZE:
        return None
    try:
        page = parse_json(text)
    except ValueError:
        return None
    if type(page) is not dict or type(page.get("entities")) is not list:
        return None
    if _may_hold_surrogate(text) and _has_lone_surrogate(page):
        return None
    raw = page["entities"][:_MAX_ENTITIES]
    entities = [m for m in map(decode_message, raw) if m is not None]
    try:
        number = _int(page, "pageNumber") or 1
        count = _int(page, "pageCount")
    except _Bad:
        return None
    return HistoryPage(tuple(entities), number, count, len(raw) - len(entities))


def _unknown_frame(data: str | bytes, reason: str) -> Frame:
    return Frame(False, 0, Unknown(reason, None, _raw(data)))


def _utf8(data: str | bytes) -> bool:
    """Whether ``data`` is text, or bytes of valid UTF-8."""
    if isinstance(data, str) or data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _raw(data: str | bytes) -> str:
    """What an Unknown keeps of a frame: its start, as text."""
    if isinstance(data, str):
        return data[:_RAW_LIMIT]
    return data[:_RAW_LIMIT].decode("utf-8", "replace")


def _may_hold_surrogate(data: str | bytes) -> bool:
    """Whether ``data`` escapes a UTF-16 surrogate: only then can a parsed text hold a
    lone one (a text decoded from UTF-8 cannot)."""
    if isinstance(data, str):
        return "\\u" in data and _SURROGATE_ESCAPE.search(data) is not None
    return b"\\u" in data and _SURROGATE_ESCAPE_BYTES.search(data) is not None


def _kept_raw(value: dict[str, Any]) -> dict[str, Any]:
    """``value``, kept raw; :class:`_Inexact` if it holds a float past 64 bits (orjson's
    reading of a larger integer, which json.loads keeps exact) outside the exact pass."""
    if not getattr(_exact_pass, "active", False):
        stack: list[Any] = [value]
        while stack:
            item = stack.pop()
            if type(item) is float and not -(2.0**63) < item < 2.0**63:
                raise _Inexact
            if type(item) is dict:
                stack.extend(item.values())
            elif type(item) is list:
                stack.extend(item)
    return value


def _has_lone_surrogate(data: Any) -> bool:
    # Iterative: the depth is bounded by parse_json, but a recursion here would be a second
    # limit to keep in step with it.
    stack = [data]
    while stack:
        item = stack.pop()
        if type(item) is str:
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return False


def _obj(value: Any, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Bad(f"{what}: expected an object")
    return value


def _str(d: dict[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is None or type(value) is str:
        return value
    raise _Bad(f"{key}: expected a string")


def _req_str(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    if type(value) is not str:
        raise _Bad(f"{key}: expected a string")
    return value


def _int(d: dict[str, Any], key: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if type(value) is int:
        if _MIN_INT <= value <= _MAX_INT:
            return value
    elif type(value) is float and value.is_integer() and -(2.0**63) < value < 2.0**63:
        return int(value)
    if type(value) is str and value.isdigit() and len(value) < 19:
        return int(value)  # metadata-style numbers ("3600"); bounded, never a huge int
    raise _Bad(f"{key}: expected an integer")


def _bool(d: dict[str, Any], key: str) -> bool:
    value = d.get(key)
    if value is None:
        return False
    if type(value) is bool:
        return value
    if value == "true" or value == "false":
        return bool(value == "true")
    raise _Bad(f"{key}: expected a boolean")


def _strings(d: dict[str, Any], key: str) -> tuple[str, ...]:
    value = d.get(key)
    if value is None:
        return ()
    if type(value) is not list or any(type(v) is not str for v in value):
        raise _Bad(f"{key}: expected a list of strings")
    return tuple(value)


def _str_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    d = _obj(value, what)
    return {k: v for k, v in d.items() if type(v) is str}


def _message(body: Any) -> StructuredMessage:
    # The hot path of every frame: its fields are read and checked inline (a call per
    # field was a tenth of the decode); _strings_bad names a wrong one.
    if type(body) is not dict:
        raise _Bad("body: expected an object")
    get = body.get
    message_id = get("id")
    kind = get("type")
    direction = get("direction")
    text = get("text")
    entity = get("originatingEntity")
    if not (
        (message_id is None or type(message_id) is str)
        and (kind is None or type(kind) is str)
        and (direction is None or type(direction) is str)
        and (text is None or type(text) is str)
        and (entity is None or type(entity) is str)
    ):
        raise _strings_bad(body, ("id", "type", "direction", "text", "originatingEntity"))
    channel = get("channel")
    time = None
    channel_message_id = None
    sender = None
    if channel is not None:
        if type(channel) is not dict:
            raise _Bad("channel: expected an object")
        raw_time = channel.get("time")
        if raw_time is not None:
            # The service's own form (2024-05-01T12:00:00.123Z) in one C call on 3.11+,
            # as parse_datetime's first step, without its call.
            if (
                _Z_SHORTCUT
                and type(raw_time) is str
                and len(raw_time) == 24
                and raw_time[23] == "Z"
            ):
                try:
                    time = _fromisoformat(raw_time)
                except ValueError:
                    pass
            if time is None:
                try:
                    time = parse_datetime(raw_time)
                except (TypeError, ValueError):
                    raise _Bad("channel.time: expected an ISO-8601 time") from None
        channel_message_id = channel.get("messageId")
        if channel_message_id is not None and type(channel_message_id) is not str:
            raise _Bad("messageId: expected a string")
        sent_by = channel.get("from")
        if sent_by is not None:
            if type(sent_by) is not dict:
                raise _Bad("channel.from: expected an object")
            sender = _participant(sent_by)
    content = get("content")
    events = get("events")
    metadata = get("metadata")
    return _new_message(
        message_id,
        kind or "Text",
        direction,
        text,
        time,
        channel_message_id,
        sender,
        _contents(content) if content else (),
        _events(events) if events else (),
        _str_map(metadata, "metadata") if metadata else {},
        entity,
    )


def _strings_bad(d: dict[str, Any], keys: tuple[str, ...]) -> _Bad:
    """The error for the first of ``keys`` that is neither absent nor a string."""
    for key in keys:
        value = d.get(key)
        if value is not None and type(value) is not str:
            return _Bad(f"{key}: expected a string")
    return _Bad("expected strings")  # pragma: no cover - called only when one is wrong


# The senders decoded lately: a chat has few, and a frozen Participant can be shared, so
# a burst from one agent makes one. Bounded: cleared when full.
_SENDERS: dict[tuple[Any, ...], Participant] = {}
_MAX_SENDERS = 256
# The last sender decoded, and its key: one slot, replaced whole (safe across threads).
_LAST_SENDER: list[tuple[tuple[Any, ...], Participant] | None] = [None]


def _participant(f: dict[str, Any]) -> Participant:
    key = (f.get("nickname"), f.get("firstName"), f.get("lastName"), f.get("image"))
    # The sender of the message before, by equality: a burst from one agent then costs
    # no hash of its four fresh strings.
    last = _LAST_SENDER[0]
    if last is not None and key == last[0]:
        return last[1]
    try:
        sender = _SENDERS.get(key)
    except TypeError:  # a list or an object among them: the checks below name it
        sender = None
    if sender is None:
        sender = Participant(
            _str(f, "nickname"), _str(f, "firstName"), _str(f, "lastName"), _str(f, "image")
        )
        if len(_SENDERS) >= _MAX_SENDERS:
            _SENDERS.clear()
        _SENDERS[key] = sender
    _LAST_SENDER[0] = (key, sender)
    return sender


def _contents(value: Any) -> tuple[Content, ...]:
    if type(value) is not list:
        raise _Bad("content: expected a list")
    out: list[Content] = []
    for item in value:
        c = _obj(item, "content")
        kind = _req_str(c, "contentType")
        if kind == "Attachment":
            a = _obj(c.get("attachment"), "attachment")
            out.append(
                AttachmentContent(
                    _str(a, "id"),
                    _str(a, "url"),
                    _str(a, "filename"),
                    _int(a, "fileSize"),
                    _str(a, "mediaType"),
                    _str(a, "mime"),
                    _str(a, "sha256"),
                    _str(a, "text"),
                )
            )
        elif kind == "QuickReply":
            q = _obj(c.get("quickReply"), "quickReply")
            out.append(QuickReplyContent(_str(q, "text"), _str(q, "payload"), _str(q, "action")))
        elif kind == "ButtonResponse":
            r = _obj(c.get("buttonResponse"), "buttonResponse")
            out.append(ButtonResponseContent(_str(r, "text"), _str(r, "payload"), _str(r, "type")))
        else:
            out.append(RawContent(kind, _kept_raw(c)))
    return tuple(out)


def _events(value: Any) -> tuple[MessageEvent, ...]:
    if type(value) is not list:
        raise _Bad("events: expected a list")
    out: list[MessageEvent] = []
    for item in value:
        e = _obj(item, "event")
        kind = _req_str(e, "eventType")
        if kind == "Typing":
            t = _obj(e.get("typing"), "typing")
            out.append(TypingEvent(_req_str(t, "type"), _int(t, "duration")))
        elif kind == "Presence":
            p = _obj(e.get("presence"), "presence")
            out.append(PresenceEvent(_req_str(p, "type")))
        else:
            out.append(RawEvent(kind, _kept_raw(e)))
    return tuple(out)


def _session(body: Any) -> SessionResponse:
    b = _obj(body, "body")
    allowed = None
    media = b.get("allowedMedia")
    if media is not None:
        inbound = _obj(media, "allowedMedia").get("inbound")
        if inbound is not None:
            i = _obj(inbound, "allowedMedia.inbound")
            types = i.get("fileTypes")
            file_types: list[str] = []
            if types is not None:
                if type(types) is not list:
                    raise _Bad("fileTypes: expected a list")
                file_types = [_req_str(_obj(t, "fileType"), "type") for t in types]
            allowed = AllowedMedia(tuple(file_types), _int(i, "maxFileSizeKB"))
    return SessionResponse(
        _bool(b, "connected"),
        _bool(b, "newSession"),
        _bool(b, "readOnly"),
        _bool(b, "clearedExistingSession"),
        allowed,
        _strings(b, "blockedExtensions"),
        _int(b, "maxCustomDataBytes"),
        _int(b, "durationSeconds"),
        _int(b, "expirationDate"),
        _bool(b, "autoStarted"),
    )


def _presigned(body: Any) -> PresignedUrl:
    b = _obj(body, "body")
    return PresignedUrl(
        _req_str(b, "attachmentId"),
        _req_str(b, "url"),
        _str_map(b.get("headers"), "headers"),
        _str(b, "fileName"),
        _int(b, "fileSize"),
        _str(b, "fileType"),
    )


def _deleted(body: Any) -> AttachmentDeleted:
    return AttachmentDeleted(_req_str(_obj(body, "body"), "attachmentId"))


def _upload_success(body: Any) -> UploadSuccess:
    b = _obj(body, "body")
    return UploadSuccess(_req_str(b, "attachmentId"), _str(b, "downloadUrl"), _str(b, "timestamp"))


def _upload_failure(body: Any) -> UploadFailure:
    b = _obj(body, "body")
    return UploadFailure(
        _req_str(b, "attachmentId"),
        _int(b, "errorCode"),
        _str(b, "errorMessage"),
        _str(b, "timestamp"),
    )


def _url_error(body: Any) -> GenerateUrlError:
    b = _obj(body, "body")
    return GenerateUrlError(_str(b, "attachmentId"), _int(b, "errorCode"), _str(b, "errorMessage"))


def _jwt(body: Any) -> JwtResponse:
    b = _obj(body, "body")
    return JwtResponse(_req_str(b, "jwt"), _int(b, "exp"))


def _too_many(body: Any) -> TooManyRequests:
    b = _obj(body, "body")
    retry = b.get("retryAfter")
    retry_after = (
        float(retry) if isinstance(retry, (int, float)) and type(retry) is not bool else None
    )
    return TooManyRequests(retry_after, _int(b, "errorCode"), _str(b, "errorMessage"))


def _closed(body: Any) -> ConnectionClosed:
    if body is None or body == "":
        return ConnectionClosed()
    if type(body) is str:
        return ConnectionClosed(body)
    return ConnectionClosed(_str(_obj(body, "body"), "reason"))


def _string(body: Any) -> StringFrame:
    if type(body) is not str:
        raise _Bad("body: expected a string")
    return StringFrame(body)


def _empty(cls: type[SessionExpired | Logout | SessionCleared]) -> Any:
    def decode(body: Any) -> SessionExpired | Logout | SessionCleared:
        return cls()

    return decode


_BODIES: dict[str, Any] = {
    "StructuredMessage": _message,
    "SessionResponse": _session,
    "PresignedUrlResponse": _presigned,
    "AttachmentDeletedResponse": _deleted,
    "UploadSuccessEvent": _upload_success,
    "UploadFailureEvent": _upload_failure,
    "GenerateUrlError": _url_error,
    "JwtResponse": _jwt,
    "SessionExpiredEvent": _empty(SessionExpired),
    "TooManyRequestsErrorMessage": _too_many,
    "ConnectionClosedEvent": _closed,
    "LogoutEvent": _empty(Logout),
    "SessionClearedEvent": _empty(SessionCleared),
    "string": _string,
}
