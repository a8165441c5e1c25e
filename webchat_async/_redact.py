"""Masking of secrets in text that may reach a log line, a repr or an exception.

The secrets are: the guest JWT, the event stream URI (real ones embed the JWT), OAuth
access tokens, client secrets and ``Authorization`` headers. Code that handles them
masks them where they are held (``repr=False`` fields); :func:`redact` is the second net
for free text such as URLs and server messages.
"""

from __future__ import annotations

import logging
import re

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
    """A logging filter that runs every record's message through :func:`redact`.

    The SDK never logs a secret on purpose; this is the second net for handlers that
    also receive records from other libraries (httpx, websockets) which log URLs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # Both the formatted line and the arguments: a structured (JSON) handler prints
        # record.args as they are.
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or _args_hold_secrets(record.args):
            record.msg = cleaned
            record.args = None
        return True


def _args_hold_secrets(args: object) -> bool:
    if not args:
        return False
    values = args.values() if isinstance(args, dict) else args
    if not isinstance(values, (tuple, list, type({}.values()))):
        values = (values,)
    for value in values:
        text = value if isinstance(value, str) else str(value)
        if redact(text) != text:
            return True
    return False
