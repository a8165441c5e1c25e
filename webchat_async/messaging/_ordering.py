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
        return self.has(message_key(message), message.time)

    def has(self, key: Hashable, time: datetime.datetime | None) -> bool:
        """Whether the message with ``key``, stamped ``time``, counts as delivered."""
        if key in self._keys:
            return True
        floor = self._floor
        if floor is None or time is None or time > floor:
            return False
        return time < floor or key in self._floor_keys

    def add(self, message: StructuredMessage) -> bool:
        """Remember ``message`` as delivered; ``False`` if it already counts as delivered
        (then nothing changes), so that a deliverer checks and remembers in one call."""
        key = message_key(message)
        time = message.time
        if self.has(key, time):
            return False
        self._keys.add(key)
        ring = self._ring
        ring.append((key, time))
        if len(ring) > self._capacity:
            old_key, old_time = ring.popleft()
            self._keys.discard(old_key)
            if old_time is not None:
                if self._floor is None or old_time > self._floor:
                    self._floor = old_time
                    self._floor_keys = {old_key}
                elif old_time == self._floor:
                    self._floor_keys.add(old_key)
        return True


# Heap keys are whole microseconds since the epoch, exact: ints compare several times
# faster than aware datetimes, and a burst held in the window is compared ~log2(n) times
# per message. A message without a time sorts before every other.
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)
_NEVER = -(2**63)


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
    A held message costs one heap entry and one arrival of plain numbers (a burst held
    for the window is thousands of them: few objects for the garbage collector).
    """

    __slots__ = ("_arrivals", "_heap", "_held", "_keys", "_last", "_seq", "window")

    def __init__(self, window: float) -> None:
        if not window >= 0:
            raise ValueError("window must be >= 0")
        self.window = window
        # (time in us, seq, key, message): seq is unique, so comparisons end before key.
        self._heap: list[tuple[int, int, Hashable, StructuredMessage]] = []
        # (arrived, time in us, seq), in arrival order; a seq no longer in _held is gone.
        self._arrivals: deque[tuple[float, int, int]] = deque()
        self._held: set[int] = set()
        self._keys: set[Hashable] = set()
        self._seq = 0
        self._last = float("-inf")

    def __len__(self) -> int:
        return len(self._heap)

    def __contains__(self, message: StructuredMessage) -> bool:
        return message_key(message) in self._keys

    def holds(self, key: Hashable) -> bool:
        """Whether a message with ``key`` is held."""
        return key in self._keys

    def add(self, message: StructuredMessage, now: float) -> None:
        """Hold ``message`` (a repeat of a held message is ignored)."""
        key = message_key(message)
        keys = self._keys
        if key in keys:
            return
        keys.add(key)
        self._seq = seq = self._seq + 1
        # A clock that steps back must not make the arrivals unordered.
        if now > self._last:
            self._last = now
        time = message.time
        at = _NEVER if time is None else (time - _EPOCH) // _MICROSECOND
        heapq.heappush(self._heap, (at, seq, key, message))
        self._arrivals.append((self._last, at, seq))
        self._held.add(seq)

    def due(self) -> float | None:
        """When the next held message is due (``None``: nothing held)."""
        arrivals = self._arrivals
        held = self._held
        while arrivals and arrivals[0][2] not in held:
            arrivals.popleft()
        return arrivals[0][0] + self.window if arrivals else None

    def release(self, now: float) -> list[StructuredMessage]:
        """The messages due at ``now`` and those stamped before them, in time order."""
        window = self.window
        arrivals = self._arrivals
        held = self._held
        until: tuple[int, int] | None = None
        # The same sum as due(): a release at due() always releases (no float gap).
        while arrivals and arrivals[0][0] + window <= now:
            _, at, seq = arrivals.popleft()
            if seq in held and (until is None or (at, seq) > until):
                until = (at, seq)
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
        _, seq, key, message = heapq.heappop(self._heap)
        self._held.discard(seq)
        self._keys.discard(key)
        return message
