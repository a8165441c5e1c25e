"""What the Web Messaging core asks its driver to do, and the one input it gets back
from a history read. Pure data (docs/messaging-protocol.md#states)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._redact import mask
from ..errors import WebChatError
from ._actions import Action
from ._models import StructuredMessage

__all__ = [
    "CloseSocket",
    "FetchHistory",
    "HistoryPage",
    "OpenSocket",
    "Output",
    "PutAttachment",
    "SendDone",
    "SendFailed",
    "SendFrame",
]


@attrs.frozen
class SendFrame:
    """Send ``action`` on the socket (:func:`~._actions.encode` writes it)."""

    action: Action


@attrs.frozen
class OpenSocket:
    """Open a socket ``delay`` seconds from now (``attempt`` counts since the drop)."""

    delay: float
    attempt: int


@attrs.frozen
class CloseSocket:
    """Close the socket (the session ended, or an echo never came)."""

    reason: str


@attrs.frozen
class FetchHistory:
    """Read one history page (``Authorization: bearer <jwt>``); answer with
    :meth:`MessagingCore.history_received` and this very object."""

    jwt: str = attrs.field(repr=mask)
    page_number: int
    page_size: int


@attrs.frozen
class PutAttachment:
    """``PUT`` the bytes of send ``send_id`` to ``url`` with ``headers``; then call
    :meth:`MessagingCore.upload_finished`."""

    send_id: int
    attachment_id: str
    url: str = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(repr=False)


@attrs.frozen
class SendDone:
    """Send ``send_id`` is stored (``message``: its echo or history entry; ``None`` for a
    typing indicator, which has no echo)."""

    send_id: int
    message: StructuredMessage | None


@attrs.frozen
class SendFailed:
    """Send ``send_id`` failed for good with ``error``."""

    send_id: int
    error: WebChatError


Output = SendFrame | OpenSocket | CloseSocket | FetchHistory | PutAttachment | SendDone | SendFailed


@attrs.frozen
class HistoryPage:
    """One page of the history endpoint, newest first (docs/messaging-protocol.md#history)."""

    entities: tuple[StructuredMessage, ...]
    page_number: int = 1
    page_count: int | None = None
    #: Entries that did not decode (skipped; docs/messaging-protocol.md#history).
    skipped: int = 0

    def last(self, number: int) -> bool:
        """Whether no page follows page ``number``: this one is empty, says no page
        count, or ``number`` reaches it."""
        return not self.entities or self.page_count is None or number >= self.page_count
