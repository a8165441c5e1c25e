"""Exactly-once, in-order delivery of messages across reconnects. Pure: no I/O.

The service replays nothing after a disconnect (PROTOCOL 5); a client recovers by reading
the messages endpoint ``after`` the last message id it saw. The session does this after
every (re)attach, in this order:

1. the socket is attached again: from now on every new message reaches it, and its frames
   wait, unread, in the socket's buffer (the live frames buffered during the reconnect);
2. the backfill pages every message stored after :attr:`Sequencer.last_message_id`, in
   server order, and each one that is new is delivered;
3. the buffered and later live frames are read; a message already delivered by the
   backfill is dropped by id.

A message stored before step 1 is in the backfill only; one stored after step 2 is live
only; one stored in between is in both and is delivered once (by the backfill, the earlier
of the two). So the consumer sees each message exactly once, in server order, however
often the socket drops. The window of remembered ids is bounded: it must only cover the
overlap of one backfill with the frames buffered meanwhile, and the duplicates a server
may send close together.

The backfill does not start at the very last message delivered but at the oldest of the
last :data:`REWIND` (:meth:`Sequencer.backfill_cursor`): if live frames ever came out of
order (m7 before m6) and the socket dropped between them, a cursor at m7 would never bring
m6 back; starting a few messages earlier does, and the overlap is dropped by id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from .models import WebChatMessage

__all__ = ["DEFAULT_WINDOW", "REWIND", "DedupeWindow", "Sequencer"]

#: Ids remembered by default: far more than the messages of one reconnect's overlap.
DEFAULT_WINDOW = 1024

#: How many delivered messages a backfill reaches back over (see the module docstring).
REWIND = 16


class DedupeWindow:
    """The last ``size`` distinct keys seen, with O(1) membership and insertion.

    >>> w = DedupeWindow(2)
    >>> w.add("a"), w.add("a"), w.add("b"), w.add("c"), "a" in w
    (True, False, True, True, False)
    """

    __slots__ = ("_keys", "_order", "size")

    def __init__(self, size: int = DEFAULT_WINDOW) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._order: deque[str] = deque()
        self._keys: set[str] = set()

    def add(self, key: str) -> bool:
        """Remember ``key``; ``True`` if it was new, ``False`` if it is a duplicate."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self.size:
            self._keys.discard(self._order.popleft())
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._order)


class Sequencer:
    """Decides which messages to deliver and where the next backfill starts.

    Args:
        last_message_id: where a resumed session left off (``None`` for a new one: the
            first backfill then reads the conversation from its start).
        window: how many message ids to remember for de-duplication.
    """

    __slots__ = ("_recent", "_window", "last_message_id")

    def __init__(self, last_message_id: str | None = None, window: int = DEFAULT_WINDOW) -> None:
        self._window = DedupeWindow(window)
        # Rewinding further than the window remembers would deliver messages twice.
        self._recent: deque[str] = deque(maxlen=min(REWIND, window))
        self.last_message_id = last_message_id
        if last_message_id is not None:
            self._window.add(last_message_id)
            self._recent.append(last_message_id)

    def accept(self, message: WebChatMessage) -> bool:
        """Whether to deliver ``message`` (a live frame or a backfilled one); records it if so.

        Messages without an id cannot be de-duplicated and are delivered as they come.
        """
        message_id = message.id
        if not message_id:
            return True
        if not self._window.add(message_id):
            return False
        self.last_message_id = message_id
        self._recent.append(message_id)
        return True

    def backfill(self, messages: Iterable[WebChatMessage]) -> Iterator[WebChatMessage]:
        """The messages of a backfill page (in server order) that were not delivered yet."""
        for message in messages:
            if self.accept(message):
                yield message

    def backfill_cursor(self) -> str | None:
        """The id to read the messages endpoint ``after``: a few messages back, or ``None``
        (from the start) before any message was delivered."""
        return self._recent[0] if self._recent else None

    def forget_cursor(self, message_id: str) -> None:
        """Stop using ``message_id`` as a cursor (the service refused it as unknown).

        A frame can carry an id the messages endpoint does not know; the next cursor is
        then the next delivered id of the last :data:`REWIND`, and once none is left the
        conversation's start (the de-duplication window then keeps the messages it
        remembers from coming twice).
        """
        try:
            self._recent.remove(message_id)
        except ValueError:
            pass

    def seen(self, message_id: str) -> bool:
        """Whether ``message_id`` was delivered recently (within the window)."""
        return message_id in self._window
