"""Masking of secrets in text that may reach a log line, a repr or an exception.

The secrets are: the guest JWT, the event stream URI (real ones embed the JWT), OAuth
access tokens, client secrets and ``Authorization`` headers. Code that handles them
masks them where they are held (``repr=False`` fields); :func:`redact` is the second net
for free text such as URLs and server messages.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping

__all__ = ["redact", "preview", "mask", "RedactingFilter"]

MASK = "***"

# A JWT is three base64url parts joined by dots; the first starts with "eyJ" ('{"').
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
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
    text = _JWT.sub(MASK, text)
    text = _JWT_PATH.sub(r"\1" + MASK, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _QUERY.sub(r"\1" + MASK, text)


# Longer than any JWT seen in practice, so a token that starts inside a preview is whole
# in the text that is redacted.
_PREVIEW_MARGIN = 8192


def preview(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, redacted *before* being cut.

    Cutting first could split a JWT before its second dot, and the pattern would then
    miss its header and claims.
    """
    return redact(text[: limit + _PREVIEW_MARGIN])[:limit]


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
