"""``SavedSession``: what :meth:`GuestSession.resume` needs to reattach elsewhere."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii

import attrs

from ._convert import format_datetime, parse_datetime, parse_json
from ._inbound import Position
from ._redact import mask
from ._validate import check_no_controls, check_token
from .errors import DecodeError

__all__ = ["SavedJson", "SavedSession"]

# The quoting json.dumps does by default (ASCII only), as one C call per string.
_quote: Callable[[str], str] = encode_basestring_ascii


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


# A saved session is read back from a store or a file: a value with CR or LF would reach
# a request header or line. Refused when the object is made (InvalidValueError, naming
# the field, never the value of a secret).


def _plain(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if isinstance(value, str):
        check_no_controls(value, attribute.name)


def _plain_items(_: object, attribute: attrs.Attribute[tuple[str, ...]], value: object) -> None:
    if isinstance(value, tuple):
        for item in value:
            if isinstance(item, str):
                check_no_controls(item, attribute.name)


def _token(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if isinstance(value, str):
        check_token(value, attribute.name)


def _secret_uri(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if isinstance(value, str):
        check_no_controls(value, attribute.name, secret=True)


@attrs.frozen(kw_only=True)
class SavedSession:
    """What :meth:`GuestSession.resume` needs to reattach elsewhere (another task, process).

    ``jwt`` and ``event_stream_uri`` are secrets: they are masked in the ``repr``, but
    :meth:`to_json` writes them in clear (store the text as you would a password).

    The delivery position is where the consumer stood (docs/guarantees.md):
    ``last_message_id`` is the last message it received in server order (the resumed session
    yields every message after it); ``last_message_timestamp`` is that message's timestamp
    and ``ids_at_timestamp`` the ids received with that same timestamp, so that a resumed
    session never yields again a message at or before the position, even when the
    endpoint refuses ``last_message_id`` as a cursor. A session saved by an older version
    has only ``last_message_id``; it resumes as before.
    """

    conversation_id: str = attrs.field(validator=_plain)
    member_id: str = attrs.field(validator=_plain)
    jwt: str = attrs.field(repr=mask, validator=_token)
    event_stream_uri: str = attrs.field(repr=mask, validator=_secret_uri)
    last_message_id: str | None = attrs.field(default=None, validator=_plain)
    base_url: str = attrs.field(validator=_plain)
    last_message_timestamp: datetime.datetime | None = None
    ids_at_timestamp: tuple[str, ...] = attrs.field(
        default=(), converter=_str_tuple, validator=_plain_items
    )

    def position(self) -> Position:
        """The delivery position this saved session records."""
        return Position(self.last_message_id, self.last_message_timestamp, self.ids_at_timestamp)

    def to_json(self) -> str:
        """The saved session as a JSON object (contains the secrets)."""
        # What json.dumps(..., separators=(",", ":")) writes for this object, written out:
        # a worker saves at every event, and json.dumps builds an encoder per call (about
        # half of a worker's own cost per event, benchmarks/fleet.py). Same bytes (a
        # property test compares them).
        return _head(self) + _tail(
            self.last_message_id,
            _quote(self.base_url),
            self.last_message_timestamp,
            self.ids_at_timestamp,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SavedSession:
        """Read what :meth:`to_json` wrote (any version); ``ValueError`` if it does not fit
        (:class:`~webchat_async.errors.InvalidValueError` for a value with a control
        character, or a ``jwt`` that is not a token)."""
        try:
            data = parse_json(text)
        except ValueError:
            raise ValueError("a saved session is a JSON object") from None
        if not isinstance(data, dict):
            raise ValueError("a saved session is a JSON object")
        required = ("conversationId", "memberId", "jwt", "eventStreamUri", "baseUrl")
        for key in required:
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"a saved session needs a non-empty string {key!r}")
        last = data.get("lastMessageId")
        if last is not None and not isinstance(last, str):
            raise ValueError("lastMessageId must be a string or null")
        stamp = data.get("lastMessageTimestamp")
        timestamp = None
        if stamp is not None:
            try:
                timestamp = parse_datetime(stamp)
            except (DecodeError, TypeError, ValueError):
                raise ValueError("lastMessageTimestamp must be an ISO-8601 string") from None
        ids = data.get("idsAtTimestamp", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("idsAtTimestamp must be a list of strings")
        return cls(
            conversation_id=data["conversationId"],
            member_id=data["memberId"],
            jwt=data["jwt"],
            event_stream_uri=data["eventStreamUri"],
            last_message_id=last,
            base_url=data["baseUrl"],
            last_message_timestamp=timestamp,
            ids_at_timestamp=tuple(ids),
        )


def _head(saved: SavedSession) -> str:
    # The fields before the position, which never change for a session.
    return (
        '{"conversationId":' + _quote(saved.conversation_id)
        + ',"memberId":' + _quote(saved.member_id)
        + ',"jwt":' + _quote(saved.jwt)
        + ',"eventStreamUri":' + _quote(saved.event_stream_uri)
        + ',"lastMessageId":'
    )  # fmt: skip


def _tail(
    last: str | None,
    quoted_base: str,
    timestamp: datetime.datetime | None,
    ids: tuple[str, ...],
) -> str:
    text = ("null" if last is None else _quote(last)) + ',"baseUrl":' + quoted_base
    if timestamp is None:
        return text + "}"
    return (
        text
        + ',"lastMessageTimestamp":' + _quote(format_datetime(timestamp))
        + ',"idsAtTimestamp":[' + ",".join(map(_quote, ids)) + "]}"
    )  # fmt: skip


class SavedJson:
    """``SavedSession.to_json`` of one session at any delivery position, with what never
    changes (ids, the JWT, the stream URI, the base URL) quoted once.

    A worker writes its session's saved JSON at every event; only the position moves. The
    text is the same as ``attrs.evolve(saved, <position>).to_json()`` (a property test
    compares them), so whatever reads a saved session reads this one.
    """

    __slots__ = ("_base", "_head")

    def __init__(self, saved: SavedSession) -> None:
        self._head = _head(saved)
        self._base = _quote(saved.base_url)

    def __repr__(self) -> str:
        return "<SavedJson>"  # the cached text holds the JWT

    def at(self, position: Position) -> str:
        """The saved session's JSON with ``position`` as its delivery position."""
        return self._head + _tail(position.cursor, self._base, position.timestamp, position.ids)
