"""Argument checks that run before a request is built.

A bad argument is the caller's bug: it raises at once (``ValueError``, or ``TypeError`` for
a value of the wrong type) with a message naming the parameter, and nothing is sent.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from .errors import InvalidValueError

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "MAX_RESULTS_LIMIT",
    "SORT_ORDERS",
    "check_base_url",
    "check_stream_uri",
    "check_body",
    "check_bool",
    "check_int",
    "check_message_text",
    "check_no_controls",
    "check_timeout",
    "check_token",
    "check_unicode",
    "segment",
]

T = TypeVar("T")

# CreateWebChatMessageRequest.body: "message bodies are limited to 4,000 characters".
MAX_MESSAGE_LENGTH = 4000
# get_webchat_guest_conversation_messages: "maxResults ... up to a maximum of 100".
MAX_RESULTS_LIMIT = 100
SORT_ORDERS = frozenset({"ascending", "descending"})


def segment(value: object, name: str) -> str:
    """Check an id and percent-encode it as exactly one path segment.

    ``quote(safe="")`` escapes ``/`` too, so ``"../x"`` or ``"a/b"`` stays inside its
    segment instead of walking the path. ``"."`` and ``".."`` are refused: ``quote`` leaves
    dots alone and URL normalization would resolve them as dot-segments.
    """
    if type(value) is str and value.isascii() and value.replace("-", "").isalnum():
        # ASCII letters, digits and dashes (every id the service makes): nothing to
        # escape and nothing to refuse, so the general path below is skipped.
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    check_no_controls(value, name)
    if value in (".", ".."):
        raise ValueError(f"{name} must be an id, not {value!r}")
    return quote(value, safe="")


def check_unicode(value: str, name: str) -> str:
    """A string that can be encoded: a lone surrogate (``"\\ud800"``, which JSON can
    carry) is refused with a ``ValueError`` naming ``name``, not a ``UnicodeEncodeError``
    from deep inside the request."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValueError(
                f"{name} is not valid unicode (it holds a lone surrogate)", name=name
            ) from None
    return value


def check_int(value: object, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """An integer within ``[minimum, maximum]`` (``bool`` is refused: it is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


def check_message_text(text: object, name: str) -> str:
    """A message text: a ``str`` of 1 to :data:`MAX_MESSAGE_LENGTH` characters.

    ``name`` is the caller's argument (``text`` of ``send_message``, ``body`` of the API
    call), so the error points at what the caller wrote.
    """
    if not isinstance(text, str):
        got = "None" if text is None else f"a {type(text).__name__}"
        raise ValueError(f"{name}: the message text must be a non-empty str, not {got}")
    if not text:
        raise ValueError(f"{name}: the message text must not be empty")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ValueError(
            f"{name}: the message text is {len(text)} characters; the limit is {MAX_MESSAGE_LENGTH}"
        )
    return text


def check_bool(value: object, name: str) -> bool:
    """A real ``bool``: ``"false"`` would be truthy, so strings are refused."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def check_body(body: object, cls: type[T], name: str = "body") -> T:
    """A request body must be the model the operation takes."""
    if not isinstance(body, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, not {type(body).__name__}")
    return body


def check_timeout(timeout: httpx.Timeout | float | None, default: httpx.Timeout) -> httpx.Timeout:
    """A timeout where every phase (connect, read, write, pool) is finite and positive.

    A request that can hang forever would hang a chat session with it, so ``None``
    (no limit) is refused for any phase.
    """
    if timeout is None:
        return default
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, httpx.Timeout)):
        raise TypeError(f"timeout must be a float or httpx.Timeout, not {type(timeout).__name__}")
    result = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(float(timeout))
    for phase in ("connect", "read", "write", "pool"):
        seconds: Any = getattr(result, phase)
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"timeout {phase} must be a finite number of seconds > 0")
    return result


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, name: str, *, allow_insecure_http: bool) -> str:
    """Validate a base URL and return it without a trailing slash.

    ``http://`` sends tokens in clear text, so it is accepted only for loopback hosts
    (127.0.0.0/8, ::1, localhost: the simulator) unless ``allow_insecure_http`` is true.
    """
    if not isinstance(url, str):
        raise TypeError(f"{name} must be a str, not {type(url).__name__}")
    # urlsplit drops CR, LF and TAB without a word: the text kept would still hold them.
    check_no_controls(url.strip(), name)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an absolute http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must not have a query or fragment")
    if parts.username or parts.password:
        # Credentials in a URL end up in logs and tracebacks; they are never needed here.
        raise ValueError(f"{name} must not contain a user name or password")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ValueError(
            f"{name} uses http:// to a non-loopback host {parts.hostname!r}: tokens would "
            "travel in clear text; use https:// or pass allow_insecure_http=True"
        )
    return url.strip().rstrip("/")


def check_stream_uri(uri: str, *, allow_insecure: bool) -> str:
    """Validate an ``eventStreamUri`` (from the service or a saved session).

    The same rule as :func:`check_base_url`: plain ``ws://`` only to loopback hosts unless
    the user allowed insecure transport. The URI embeds the guest JWT, so messages name
    the host at most, never the URI.
    """
    if not isinstance(uri, str):
        raise TypeError(f"event_stream_uri must be a str, not {type(uri).__name__}")
    check_no_controls(uri, "event_stream_uri", secret=True)  # the URI embeds the JWT
    parts = urlsplit(uri)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError("the event stream URI must be an absolute ws:// or wss:// URL")
    if parts.scheme == "ws" and not allow_insecure and not _is_loopback(parts.hostname):
        raise ValueError(
            f"the event stream URI uses ws:// to a non-loopback host {parts.hostname!r}: the "
            "guest JWT would travel in clear text; pass an api with allow_insecure_http=True"
        )
    return uri


# C0 controls (CR, LF, NUL, TAB...), DEL and the C1 controls: nothing the service sends or
# takes in an id, a URL or a secret, and CR/LF would end an HTTP header and start another.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# A bearer token is printable ASCII without spaces (RFC 6750's b64token is narrower).
_NOT_TOKEN = re.compile("[^\x21-\x7e]")


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def check_no_controls(value: str, name: str, *, secret: bool = False) -> str:
    """``value`` unless it holds a control character: then :class:`InvalidValueError`
    naming ``name`` and the character. A ``secret`` is never described beyond that; for
    anything else the position is given too.
    """
    found = _CONTROL.search(value)
    if found is None:
        # Nor one that cannot be encoded: both fail a request, neither where it was given.
        return check_unicode(value, name)
    where = "" if secret else f" at index {found.start()}"
    raise InvalidValueError(
        f"{name} contains a control character ({_code_point(found.group())}{where})",
        name=name,
    )


def check_token(value: str, name: str) -> str:
    """A token sent in a header (the guest JWT, an access token): printable ASCII only.

    The value is a secret: the error names the parameter and the character, nothing else.
    """
    found = _NOT_TOKEN.search(value)
    if found is None:
        return value
    char = found.group()
    kind = "a control character" if _CONTROL.match(char) else "a character a token cannot hold"
    raise InvalidValueError(
        f"{name} contains {kind} ({_code_point(char)}); a token is printable ASCII without spaces",
        name=name,
    )
