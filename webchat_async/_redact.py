"""Masking of secrets in text that may reach a log line, a repr or an exception.

The secrets are: the guest JWT, the event stream URI (real ones embed the JWT), OAuth
access tokens, client secrets and ``Authorization`` headers. Code that handles them
masks them where they are held (``repr=False`` fields); :func:`redact` is the second net
for free text such as URLs and server messages.

Text from a server is the attacker's choice: every function here takes time linear in
the length of its text (no pattern scans a run of characters again from each of its
positions), and what goes into an exception or a log line is cut to :data:`TEXT_LIMIT`
characters (:func:`clip`).
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

__all__ = ["redact", "preview", "mask", "clip", "clip_fields", "RedactingFilter", "TEXT_LIMIT"]

MASK = "***"

#: The most characters of server text (an error message, a close reason, an exception
#: text from below) that an exception message or a log line of the SDK carries; the rest
#: is cut and its length noted.
TEXT_LIMIT = 2000

T = TypeVar("T")

# A JWT is three base64url parts joined by dots; the first starts with "eyJ" ('{"'):
# eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*, found by _mask_jwts in linear time.
# As one pattern, each "eyJ" of a long run without two dots after it (server text such
# as "eyJeyJeyJ...") scanned the rest of the run: 300 KB took ~30 s.
_JWT_TAIL = re.compile(r"[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_JWT_RUN = re.compile(r"[A-Za-z0-9_.-]*")
# Stream URIs put the JWT in the path: /chat/jwt/<token>; hide whatever follows.
_JWT_PATH = re.compile(r"(/jwt/)[^/?#\s\"']+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_QUERY = re.compile(r"(?i)([?&](?:access_token|token|jwt|client_secret)=)[^&#\s\"']+")


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like a token replaced by ``***``.

    >>> redact("wss://streaming.mypurecloud.com/chat/jwt/abc.def.ghi")
    'wss://streaming.mypurecloud.com/chat/jwt/***'
    """
    if not text:
        return text
    text = _mask_jwts(text)
    text = _JWT_PATH.sub(r"\1" + MASK, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _QUERY.sub(r"\1" + MASK, text)


def _mask_jwts(text: str) -> str:
    """Every JWT-shaped token of ``text`` replaced by ``***``: what ``re.sub`` of the
    pattern above gives (same matches, leftmost first), in one pass.

    A match starts at an ``eyJ`` and needs two dots after it within its run of
    ``[A-Za-z0-9_.-]``; where there are not two, no later ``eyJ`` of the run has them
    either, so the search goes on after the run instead of at the next character.
    """
    found = text.find("eyJ")
    if found == -1:
        return text
    parts: list[str] = []
    done = 0
    while found != -1:
        tail = _JWT_TAIL.match(text, found + 3)
        if tail is None:
            run = _JWT_RUN.match(text, found + 3)
            found = text.find("eyJ", run.end() if run is not None else found + 3)
            continue
        parts.append(text[done:found])
        parts.append(MASK)
        done = tail.end()
        found = text.find("eyJ", done)
    parts.append(text[done:])
    return "".join(parts)


# Longer than any JWT seen in practice, so a token that starts inside a preview is whole
# in the text that is redacted.
_PREVIEW_MARGIN = 8192


def preview(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, redacted *before* being cut.

    Cutting first could split a JWT before its second dot, and the pattern would then
    miss its header and claims.
    """
    return redact(text[: limit + _PREVIEW_MARGIN])[:limit]


# A code point of a UTF-16 surrogate: never valid alone in a str (no encoder takes it).
_SURROGATE = re.compile("[\ud800-\udfff]")


# Room left at the end of a cut text for the note of the cut: " [... 1234567 more characters]".
_NOTE_ROOM = 40


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """Server text as it may go into an exception or a log line: at most ``limit``
    characters (a lone surrogate counts as the six of its escape), secrets masked
    (before the cut, as by :func:`preview`), the length of what was cut noted, and lone
    surrogates escaped (``\\ud800``) so that printing it cannot fail.
    ``clip(clip(text)) == clip(text)``.
    """
    if len(text) > limit:
        kept = max(limit - _NOTE_ROOM, 0)
        # The note starts with a space: it cannot extend a token of the text before it.
        text = f"{preview(text, kept)} [... {len(text) - kept} more characters]"
    else:
        text = redact(text)
    if not text.isascii() and _SURROGATE.search(text) is not None:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def clip_fields(obj: T) -> T:
    """A copy of the attrs instance ``obj`` (an error body) with every string in it,
    nested instances, lists and dicts included, passed through :func:`clip`."""
    return _clip_value(obj)  # type: ignore[no-any-return]


def _clip_value(value: Any) -> Any:
    if type(value) is str:  # not an enum's value
        return clip(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_clip_value(item) for item in value)
    if isinstance(value, dict):
        return {_clip_value(k): _clip_value(v) for k, v in value.items()}
    if attrs.has(type(value)):
        changes = {
            field.alias: _clip_value(getattr(value, field.name))
            for field in attrs.fields(type(value))
            if field.init
        }
        return attrs.evolve(value, **changes)
    return value


def mask(value: object) -> str:
    """The ``repr`` of a secret field: ``'***'`` (or ``None`` when unset)."""
    return "None" if value is None else repr(MASK)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in a record's message, arguments and traceback.

    The SDK never logs a secret on purpose; this is the second net for records of other
    libraries (websockets, httpx) which log URLs and frames. A handler sees more than the
    formatted line: a structured (JSON) handler writes ``record.args`` as they are, an
    error tracker reads the objects in them and in ``exc_info``. So each argument is
    searched whole (a websocket frame's ``str`` shows only its two ends, its ``data`` holds
    everything): a string that holds a secret is replaced by its redacted text, any other
    value by a placeholder naming its type. A traceback that holds one is replaced by its
    redacted text (``exc_text``; ``exc_info`` is dropped).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):  # an object logged as the message
            record.msg = _safe(record.msg)
        args = record.args
        if args:
            if isinstance(args, Mapping):
                safe_map = {key: _safe(value) for key, value in args.items()}
                if any(safe_map[key] is not value for key, value in args.items()):
                    record.args = safe_map
            else:
                safe_args = tuple(_safe(value) for value in args)
                if any(a is not b for a, b in zip(safe_args, args, strict=True)):
                    record.args = safe_args
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and _holds_secret(exc):
            import traceback

            record.exc_text = redact("".join(traceback.format_exception(exc)))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# How far into an argument the search goes. Past either bound the argument counts as
# holding a secret: a value too big to search is not shown rather than shown unsearched.
_MAX_DEPTH = 6
_MAX_NODES = 500
_PLAIN = (int, float, bool, type(None))


def _safe(value: object) -> object:
    """``value`` itself if it holds no secret; else its redacted text or a placeholder."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        cleaned = redact(value)
        return value if cleaned == value else cleaned
    if not _holds_secret(value):
        return value
    return f"<{type(value).__name__}: not shown, it holds a secret>"


def _holds_secret(value: object) -> bool:
    """Whether ``value`` or anything it holds shows a secret (see :class:`RedactingFilter`):
    its ``str`` and ``repr``, bytes decoded, items, exception causes, attributes."""
    budget = [_MAX_NODES]
    seen: set[int] = set()

    def visit(item: object, depth: int) -> bool:
        if isinstance(item, _PLAIN):
            return False
        if depth > _MAX_DEPTH or budget[0] <= 0:
            return True
        budget[0] -= 1
        if isinstance(item, str):
            return redact(item) != item
        if isinstance(item, (bytes, bytearray, memoryview)):
            text = bytes(item).decode("utf-8", "replace")
            return redact(text) != text
        if id(item) in seen:
            return False
        seen.add(id(item))
        try:
            shown = (str(item), repr(item))
        except Exception:  # a broken __str__: what a handler would print is unknown
            return True
        if any(redact(text) != text for text in shown):
            return True
        if isinstance(item, enum.Enum) or isinstance(item, type):
            return False
        return any(visit(child, depth + 1) for child in _children(item))

    return visit(value, 0)


def _children(item: object) -> list[object]:
    """What ``item`` holds: items, exception arguments and causes, attributes."""
    children: list[object] = []
    if isinstance(item, Mapping):
        children += [*item.keys(), *item.values()]
    elif isinstance(item, (tuple, list, set, frozenset)):
        children += list(item)
    if isinstance(item, BaseException):
        children += [*item.args, item.__cause__, item.__context__]
    attributes = getattr(item, "__dict__", None)
    if isinstance(attributes, dict):
        children += list(attributes.values())
    for cls in type(item).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if isinstance(name, str) and name not in ("__dict__", "__weakref__"):
                children.append(getattr(item, name, None))
    return children
