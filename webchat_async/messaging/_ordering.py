"""Exactly once, in ``channel.time`` order: the dedupe memory and the reorder window. Pure.

The service does not order its pushes (docs/messaging-protocol.md#order-and-dedupe).
:class:`Reorder` holds each message at most ``window`` seconds after it *arrived* and
releases messages in ``channel.time`` order; :meth:`Reorder.flush` releases everything (a
drop, the end). :class:`Seen` remembers the keys of the messages delivered, bounded, so
that a repeat (a duplicate push, a history entry already delivered) is dropped.

Both take times as plain floats (seconds, from the caller's clock); neither reads a clock.
"""

from __future__ import annotations

import datetime
import heapq
from collections import deque
from collections.abc import Hashable

from ._models import StructuredMessage

__all__ = ["DEFAULT_REMEMBERED", "Reorder", "Seen", "message_key"]

#: Message keys remembered by default (docs/messaging-protocol.md#order-and-dedupe).
DEFAULT_REMEMBERED = 4096


def message_key(message: StructuredMessage) -> Hashable:
    """The dedupe key: the message ``id``; without one, ``(channel.time, direction, text)``
    (docs/messaging-protocol.md#order-and-dedupe [choice])."""
    if message.id:
        return message.id
    return (message.time, message.direction, message.text)


class Seen:
    """The keys delivered, at most ``capacity`` of them (oldest forgotten first).

    A forgotten key's time becomes the *floor*: a message stamped before the floor counts
    as delivered, so memory stays bounded without letting an old repeat through; at the
    floor itself, the keys forgotten there tell (messages may share a time).
    """

    __slots__ = ("_capacity", "_floor", "_floor_keys", "_keys", "_ring")

    def __init__(self, capacity: int = DEFAULT_REMEMBERED) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._keys: set[Hashable] = set()
        self._ring: deque[tuple[Hashable, datetime.datetime | None]] = deque()
        self._floor: datetime.datetime | None = None
        self._floor_keys: set[Hashable] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, message: StructuredMessage) -> bool:
        key = message_key(message)
        if key in self._keys:
            return True
        floor, time = self._floor, message.time
        if floor is None or time is None or time > floor:
            return False
        return time < floor or key in self._floor_keys

    def add(self, message: StructuredMessage) -> None:
        """Remember ``message`` as delivered."""
        key = message_key(message)
        if key in self._keys:
            return
        self._keys.add(key)
        self._ring.append((key, message.time))
        if len(self._ring) > self._capacity:
            old_key, old_time = self._ring.popleft()
            self._keys.discard(old_key)
            if old_time is None:
                return
            if self._floor is None or old_time > self._floor:
                self._floor = old_time
                self._floor_keys = {old_key}
            elif old_time == self._floor:
                self._floor_keys.add(old_key)


class _Held:
    """A message in the window. Kept in the heap as ``(sort_time, seq, held)``: tuples
    compare in C, and ``seq`` is unique, so the comparison never reaches ``held``."""

    __slots__ = ("arrived", "message", "released", "sort_key")

    def __init__(
        self, sort_key: tuple[datetime.datetime, int], arrived: float, message: StructuredMessage
    ) -> None:
        self.sort_key = sort_key
        self.arrived = arrived
        self.message = message
        self.released = False


_NEVER = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)


class Reorder:
    """Messages held for the reorder window, released in ``channel.time`` order.

    A message is due ``window`` seconds after it arrived; :meth:`release` gives every due
    message and, before each, any held message stamped earlier (so that order holds for
    messages that arrived within ``window`` of each other). A message without a time has
    no place in the order: it goes out first with the next release. A message stamped
    before one already released (it came later than the window) is released as soon as
    it is due: late, but once.

    Each call costs O(log n) per message released: the arrivals are kept in arrival order
    beside the heap, so a burst of back-to-back frames is not scanned again per frame.
    """

    __slots__ = ("_arrivals", "_heap", "_keys", "_last", "_seq", "window")

    def __init__(self, window: float) -> None:
        if not window >= 0:
            raise ValueError("window must be >= 0")
        self.window = window
        self._heap: list[tuple[datetime.datetime, int, _Held]] = []
        self._arrivals: deque[_Held] = deque()
        self._keys: set[Hashable] = set()
        self._seq = 0
        self._last = float("-inf")

    def __len__(self) -> int:
        return len(self._heap)

    def __contains__(self, message: StructuredMessage) -> bool:
        return message_key(message) in self._keys

    def add(self, message: StructuredMessage, now: float) -> None:
        """Hold ``message`` (a repeat of a held message is ignored)."""
        key = message_key(message)
        keys = self._keys
        if key in keys:
            return
        keys.add(key)
        self._seq += 1
        # A clock that steps back must not make the arrivals unordered.
        if now > self._last:
            self._last = now
        sort_key = (message.time or _NEVER, self._seq)
        held = _Held(sort_key, self._last, message)
        heapq.heappush(self._heap, (*sort_key, held))
        self._arrivals.append(held)

    def due(self) -> float | None:
        """When the next held message is due (``None``: nothing held)."""
        arrivals = self._arrivals
        while arrivals and arrivals[0].released:
            arrivals.popleft()
        return arrivals[0].arrived + self.window if arrivals else None

    def release(self, now: float) -> list[StructuredMessage]:
        """The messages due at ``now`` and those stamped before them, in time order."""
        window = self.window
        arrivals = self._arrivals
        until: tuple[datetime.datetime, int] | None = None
        # The same sum as due(): a release at due() always releases (no float gap).
        while arrivals and arrivals[0].arrived + window <= now:
            held = arrivals.popleft()
            if held.released:
                continue
            if until is None or held.sort_key > until:
                until = held.sort_key
        if until is None:
            return []
        heap = self._heap
        out: list[StructuredMessage] = []
        while heap and (heap[0][0], heap[0][1]) <= until:
            out.append(self._pop())
        return out

    def flush(self) -> list[StructuredMessage]:
        """Everything held, in time order."""
        out: list[StructuredMessage] = []
        while self._heap:
            out.append(self._pop())
        self._arrivals.clear()
        return out

    def _pop(self) -> StructuredMessage:
        held = heapq.heappop(self._heap)[2]
        held.released = True
        self._keys.discard(message_key(held.message))
        return held.message
