"""The fleet's value classes and errors: what a store returns, what a worker reports.

Small frozen attrs classes with no behaviour. ``saved`` (a session's ``SavedSession`` as
JSON) carries the guest JWT: it is masked in every ``repr`` and never logged.
"""

from __future__ import annotations

from typing import Literal

import attrs

from .._redact import mask
from ..errors import WebChatError

__all__ = [
    "MESSAGING",
    "PROTOCOLS",
    "WEBCHAT",
    "ChatProtocol",
    "ChatStatus",
    "Claim",
    "DecryptionError",
    "FleetStatus",
    "InsecureStoreWarning",
    "LeaseLost",
    "PendingSends",
    "Progress",
    "StoreError",
    "StoreReset",
    "WorkerStatus",
]


#: The protocol of a chat: Genesys Web Chat v2 or Web Messaging.
ChatProtocol = Literal["webchat", "messaging"]
WEBCHAT: ChatProtocol = "webchat"
MESSAGING: ChatProtocol = "messaging"
PROTOCOLS: tuple[ChatProtocol, ...] = (WEBCHAT, MESSAGING)


def read_protocol(text: str) -> ChatProtocol:
    """A stored protocol name: empty (a record written before Web Messaging chats) reads
    as Web Chat v2; an unknown one is a :class:`StoreError` (a newer worker wrote it)."""
    if text in ("", WEBCHAT):
        return WEBCHAT
    if text == MESSAGING:
        return MESSAGING
    raise StoreError(f"a chat of an unknown protocol ({text[:40]!r}): upgrade this worker")


class LeaseLost(WebChatError):
    """This worker no longer holds the chat's lease (another worker took it, or the lease
    ran out): it must not act on the chat any more. Raised by the sends of a
    :class:`~webchat_async.worker.Chat` and by fenced store writes."""


class StoreError(WebChatError):
    """The session store could not be reached or answered something unexpected."""


class StoreReset(LeaseLost):
    """The store no longer has the chat's record, or no longer knows this worker: it lost
    its state (a Redis restarted without persistence, flushed, or failed over to an empty
    replica) or a newer owner finished the chat. A worker then asks the store which
    (:meth:`~webchat_async.worker.SessionStore.restore`) and, after a loss, writes back
    what it holds and goes on; otherwise it treats this as :class:`LeaseLost`."""


class DecryptionError(StoreError):
    """A stored secret could not be decrypted: the store has no encryption keys, none of
    its keys fits, or the data was altered. The message holds neither keys nor data."""


class InsecureStoreWarning(UserWarning):
    """A store that sends or keeps the guest credentials unprotected: plaintext
    ``redis://`` to a host other than this one (use ``rediss://``), or no encryption keys
    for a Redis on another host. Silence it with :func:`warnings.filterwarnings` on this
    class once the risk is accepted (a private network, Redis-side encryption)."""


@attrs.frozen(kw_only=True)
class PendingSends:
    """The sends recorded (before each was made) for an event whose handling was not
    committed: ``bodies`` holds a digest of each text (:func:`send_digest`: the store
    keeps no guest text), in the order the handler made them."""

    event_key: str
    bodies: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Claim:
    """A chat this worker now holds: what the store had committed for it.

    Attributes:
        conversation_id: the chat.
        token: the fencing token of this lease; every write for the chat must carry it.
        saved: the committed ``SavedSession`` as JSON (a secret: masked in the repr).
        base_url: the API base the chat was started on.
        position: the id of the last message whose handling was committed (``None``:
            none yet).
        outstanding: ids of committed sends whose echo has not been handled yet.
        pending: sends recorded for an event whose handling was not committed.
        previous_owner: the worker that held the chat before (``None``: none).
        failing_for: seconds (store clock) since an owner first failed to resume or
            stream the chat after its last commit (``None``: not failing); a worker
            gives the chat up once this passes its ``give_up_after``.
        protocol: ``"webchat"`` (Web Chat v2: ``saved`` is a ``SavedSession``) or
            ``"messaging"`` (Web Messaging: ``saved`` holds the session token).
    """

    conversation_id: str
    token: int
    saved: str = attrs.field(repr=mask)
    base_url: str
    position: str | None = None
    outstanding: tuple[str, ...] = ()
    pending: PendingSends | None = None
    previous_owner: str | None = None
    failing_for: float | None = None
    protocol: ChatProtocol = WEBCHAT


@attrs.frozen(kw_only=True)
class Progress:
    """What one commit writes after an event was handled (``saved`` empty: the stored one
    is kept, as for a Web Messaging chat, whose record does not change)."""

    saved: str = attrs.field(repr=mask)
    position: str | None
    outstanding: tuple[str, ...] = ()
    #: The handler raised (counted; the event is still committed as handled).
    failed: bool = False


@attrs.frozen(kw_only=True)
class WorkerStatus:
    """One worker as the store sees it."""

    worker_id: str
    alive: bool
    expires_in: float
    chats: int
    concurrency: int
    host: str = ""
    pid: int = 0


@attrs.frozen(kw_only=True)
class ChatStatus:
    """One chat as the store sees it: its owner (empty: none), fencing token, lease and
    protocol (``"webchat"`` or ``"messaging"``)."""

    conversation_id: str
    owner: str
    token: int
    expires_in: float
    reserved_for: str = ""
    protocol: ChatProtocol = WEBCHAT


@attrs.frozen(kw_only=True)
class FleetStatus:
    """Workers, chats and counters of a store (``webchat-async status``), and the chats
    given up lately (conversation id to the reason, newest first)."""

    workers: tuple[WorkerStatus, ...]
    chats: tuple[ChatStatus, ...]
    counters: dict[str, int] = attrs.field(factory=dict)
    given_up: dict[str, str] = attrs.field(factory=dict)
