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

__all__ = ["DAWN", "DEFAULT_REMEMBERED", "Reorder", "Seen", "message_key"]

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

    __slots__ = ("_capacity", "_floor", "_floor_keys", "_keys", "_ring", "_ring_times")

    def __init__(self, capacity: int = DEFAULT_REMEMBERED) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._keys: set[Hashable] = set()
        # The keys in delivery order and their times, side by side: no tuple per message
        # for the garbage collector to walk while the ring is full.
        self._ring: deque[Hashable] = deque()
        self._ring_times: deque[datetime.datetime | None] = deque()
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
        key = message.id or message_key(message)  # the id: message_key's first case
        time = message.time
        floor = self._floor
        if key in self._keys or (  # has(key, time), inline: once per message delivered
            floor is not None
            and time is not None
            and time <= floor
            and (time < floor or key in self._floor_keys)
        ):
            return False
        self._keys.add(key)
        ring = self._ring
        ring.append(key)
        self._ring_times.append(time)
        if len(ring) > self._capacity:
            old_key = ring.popleft()
            old_time = self._ring_times.popleft()
            self._keys.discard(old_key)
            if old_time is not None:
                if self._floor is None or old_time > self._floor:
                    self._floor = old_time
                    self._floor_keys.clear()  # not a new set per message forgotten
                    self._floor_keys.add(old_key)
                elif old_time == self._floor:
                    self._floor_keys.add(old_key)
        return True


# Messages are ordered by their aware datetimes: the service's times all share one tzinfo
# (UTC), and two such datetimes compare field by field in C, cheaper than making an int of
# each. A message without a time sorts before every other.
#: The first representable aware time: where a message without a time sorts, and what
#: stands for a time the service sent too early to subtract from.
DAWN = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)

# (time, seq, key, message): seq is unique, so comparisons end before the key.
_Entry = tuple[datetime.datetime, int, Hashable, StructuredMessage]
_Mark = tuple[datetime.datetime, int]


class Reorder:
    """Messages held for the reorder window, released in ``channel.time`` order.

    A message is due ``window`` seconds after it arrived; :meth:`release` gives every due
    message and, before each, any held message stamped earlier (so that order holds for
    messages that arrived within ``window`` of each other). A message without a time has
    no place in the order: it goes out first with the next release. A message stamped
    before one already released (it came later than the window) is released as soon as
    it is due: late, but once.

    The service pushes mostly in order, so a message stamped no earlier than the last one
    held in order joins the *run*, and only the others go to a heap; a release takes the
    smaller head of the two. The run is four parallel deques (messages, times, sequence
    numbers, arrivals) in arrival order, which is also time order: a burst held for the
    window costs O(1) per message and no object besides the message itself (a tuple per
    message made the garbage collector walk a held burst again and again; a heap of
    thousands cost ~30 tuple comparisons per pop). Messages out of order carry their
    arrival in ``_arrivals``, in arrival order, so a burst is not scanned again per frame.
    """

    __slots__ = (
        "_arrivals",
        "_heap",
        "_held",
        "_keys",
        "_last",
        "_run",
        "_run_arrived",
        "_run_at",
        "_run_seq",
        "_seq",
        "window",
    )

    def __init__(self, window: float) -> None:
        if not window >= 0:
            raise ValueError("window must be >= 0")
        self.window = window
        self._run: deque[StructuredMessage] = deque()
        self._run_at: deque[datetime.datetime] = deque()
        self._run_seq: deque[int] = deque()
        self._run_arrived: deque[float] = deque()
        self._heap: list[_Entry] = []
        # (arrived, time, seq) of the heap's messages, in arrival order; a seq no
        # longer in _held is gone.
        self._arrivals: deque[tuple[float, datetime.datetime, int]] = deque()
        self._held: set[int] = set()
        self._keys: set[Hashable] = set()
        self._seq = 0
        self._last = float("-inf")

    def __len__(self) -> int:
        return len(self._run) + len(self._heap)

    def __contains__(self, message: StructuredMessage) -> bool:
        return message_key(message) in self._keys

    def add(self, message: StructuredMessage, now: float, key: Hashable | None = None) -> None:
        """Hold ``message`` (a repeat of a held message is ignored); ``key``: its
        :func:`message_key`, when the caller has it."""
        if key is None:
            key = message_key(message)
        keys = self._keys
        if key in keys:
            return
        keys.add(key)
        self._seq = seq = self._seq + 1
        # A clock that steps back must not make the arrivals unordered.
        if now > self._last:
            self._last = now
        at = message.time or DAWN
        run_at = self._run_at
        if not run_at or at >= run_at[-1]:
            self._run.append(message)
            run_at.append(at)
            self._run_seq.append(seq)
            self._run_arrived.append(self._last)
        else:
            heapq.heappush(self._heap, (at, seq, key, message))
            self._arrivals.append((self._last, at, seq))
            self._held.add(seq)

    def due(self) -> float | None:
        """When the next held message is due (``None``: nothing held)."""
        arrivals = self._arrivals
        held = self._held
        while arrivals and arrivals[0][2] not in held:
            arrivals.popleft()
        first = self._run_arrived[0] if self._run_arrived else None
        if arrivals and (first is None or arrivals[0][0] < first):
            first = arrivals[0][0]
        return None if first is None else first + self.window

    def release(self, now: float) -> list[StructuredMessage]:
        """The messages due at ``now`` and those stamped before them, in time order."""
        window = self.window
        arrivals = self._arrivals
        held = self._held
        until: _Mark | None = None
        # The same sum as due(): a release at due() always releases (no float gap).
        while arrivals and arrivals[0][0] + window <= now:
            _, at, seq = arrivals.popleft()
            if seq in held and (until is None or (at, seq) > until):
                until = (at, seq)
        # The run's due messages come first in it, and the last of them is its latest.
        last = None
        for arrived, at, seq in zip(self._run_arrived, self._run_at, self._run_seq, strict=True):
            if arrived + window > now:
                break
            last = (at, seq)
        if last is not None and (until is None or last > until):
            until = last
        if until is None:
            return []
        return self._take(until)

    def flush(self) -> list[StructuredMessage]:
        """Everything held, in time order."""
        out = self._take(None)
        self._arrivals.clear()
        return out

    def _take(self, until: _Mark | None) -> list[StructuredMessage]:
        """The held messages up to ``until`` (``None``: all), smallest first."""
        bounded = until is not None
        last_at, last_seq = (DAWN, 0) if until is None else until
        run, run_at, run_seq = self._run, self._run_at, self._run_seq
        heap = self._heap
        keys = self._keys
        out: list[StructuredMessage] = []
        while run or heap:
            if run:
                at, seq = run_at[0], run_seq[0]
                from_run = not heap or heap[0][0] > at or (heap[0][0] == at and heap[0][1] > seq)
            else:
                from_run = False
            if from_run:
                if bounded and (at > last_at or (at == last_at and seq > last_seq)):
                    break
                message = run.popleft()
                run_at.popleft()
                run_seq.popleft()
                self._run_arrived.popleft()
                keys.discard(message.id or message_key(message))
            else:
                at, seq, key, message = heap[0]
                if bounded and (at > last_at or (at == last_at and seq > last_seq)):
                    break
                heapq.heappop(heap)
                self._held.discard(seq)
                keys.discard(key)
            out.append(message)
        return out
