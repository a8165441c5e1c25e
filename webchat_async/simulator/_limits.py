"""Every bound on what a request can make the simulator do, in one place.

The simulator is a test server, but one request must not make it send a billion messages,
sleep for a year or allocate a gigabyte, least of all when it listens beyond the loopback.
A request past a bound is answered 400 ``{"status", "code": "bad.request", "message",
"field", "limit"}`` naming the field and the bound (admin routes), or 400
``invalid.value`` (the Genesys routes); the same bounds guard :class:`FaultControls` called
from Python, with :class:`LimitError` (a ``ValueError``).

The values, and why (docs/testing.md#running-it-safely):

=============================  ============  ==============================================
bound                          value         what it limits
=============================  ============  ==============================================
``MAX_SAY_COUNT``              10,000        ``count`` of one ``say_many`` (the benchmarks
                                             send 5,000)
``MAX_CONVERSATION_IDS``       10,000        ``conversationIds`` of one ``POST /agent``
``MAX_SAY_TOTAL``              100,000       ``count`` x conversations of one request
``MAX_AGENT_TEXT``             65,536        characters of an agent text sent by the admin
                                             API (the guest's cap is 4,000)
``MAX_MEDIA_TYPES``            16            ``types`` of one ``request_media``
``MAX_FAULT_COUNT``            10**9         ``n`` of a counted fault, handshakes refused,
                                             events duplicated
``MAX_DELAY``                  300 s         ``seconds`` of the ``delay`` fault
``MAX_RETRY_AFTER``            3,600 s       ``retryAfter`` of the ``rate_limit`` fault
``MAX_FRAME_BYTES``            16 MiB        ``sizeBytes`` of ``send_oversize``
``MAX_REQUEST_BYTES``          1 MiB         any request body (aiohttp's default, made
                                             explicit)
``MAX_CLIENT_FRAME_BYTES``     64 KiB        a text frame a guest sends on the stream (a
                                             ping is 19 bytes)
``MAX_CONVERSATIONS``          100,000       conversations held (``POST`` a new one: 400)
``MAX_MESSAGES``               1,000,000     messages of one conversation (guest or admin)
=============================  ============  ==============================================
"""

from __future__ import annotations

import math

__all__ = [
    "MAX_AGENT_TEXT",
    "MAX_CLIENT_FRAME_BYTES",
    "MAX_CONVERSATIONS",
    "MAX_CONVERSATION_IDS",
    "MAX_DELAY",
    "MAX_FAULT_COUNT",
    "MAX_FRAME_BYTES",
    "MAX_MEDIA_TYPES",
    "MAX_MESSAGES",
    "MAX_REQUEST_BYTES",
    "MAX_RETRY_AFTER",
    "MAX_SAY_COUNT",
    "MAX_SAY_TOTAL",
    "LimitError",
    "check_count",
    "check_seconds",
    "check_status",
]

MAX_SAY_COUNT = 10_000
MAX_CONVERSATION_IDS = 10_000
MAX_SAY_TOTAL = 100_000
MAX_AGENT_TEXT = 65_536
MAX_MEDIA_TYPES = 16
MAX_FAULT_COUNT = 1_000_000_000
MAX_DELAY = 300.0
MAX_RETRY_AFTER = 3600.0
MAX_FRAME_BYTES = 16 * 1024 * 1024
MAX_REQUEST_BYTES = 1024 * 1024
MAX_CLIENT_FRAME_BYTES = 64 * 1024
MAX_CONVERSATIONS = 100_000
MAX_MESSAGES = 1_000_000


class LimitError(ValueError):
    """A value outside its bound: names the field and the bound.

    Args:
        field: the argument (or JSON field) at fault.
        message: what was wrong, naming the bound.
        limit: the bound it passed (for a JSON answer).
    """

    def __init__(self, field: str, message: str, limit: float | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.limit = limit


def check_count(field: str, value: object, lo: int, hi: int) -> int:
    """``value`` if it is an integer (not a bool) in ``[lo, hi]``; else :class:`LimitError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise LimitError(field, f"{field} must be an integer from {lo} to {hi:,}", hi)
    return value


def check_seconds(field: str, value: object, hi: float) -> float:
    """``value`` as seconds if it is a finite number in ``[0, hi]``; else :class:`LimitError`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= hi
    ):
        raise LimitError(field, f"{field} must be a number of seconds from 0 to {hi:g}", hi)
    return float(value)


def check_status(field: str, value: object, lo: int, hi: int) -> int:
    """``value`` if it is an HTTP status (or close code) in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise LimitError(field, f"{field} must be an integer from {lo} to {hi}", hi)
    return value
