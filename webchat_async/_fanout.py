"""Fan-out of one session's events to ``events()`` and any number of subscribers.

A session has one source of events (its inbox: ``take`` below), which hands each event
out once. :class:`Fanout` sits between that source and the session's readers: the one
``events()`` reader (the *primary*, which a plain session has alone) and the
subscriptions that :meth:`~webchat_async.GuestSession.subscribe` returns.

* **No task of its own.** Whichever reader is waiting pulls the next event from the
  source (one pull at a time) and appends it to a shared log; every reader keeps its own
  position in that log. A reader that stops reading never holds the others back: they
  pull without it.
* **Bounded.** The log keeps only what some reader has not read yet, and no reader may
  fall more than its ``limit`` events behind the newest: one that does is detached at
  once (the log no longer keeps events for it) and told so with
  :class:`~webchat_async.errors.SubscriberLagError` at its next read, after which a
  subscription ends and ``events()`` continues from the newest event. Nothing is skipped
  silently.
* **Alone, unchanged.** With no subscriber the primary reads the source directly: the
  session's own flow control, cancellation safety and saved position are exactly as
  without fan-out.
* **One** ``events()`` **at a time.** A second read of ``events()`` while one is waiting
  raises :class:`~webchat_async.errors.ConcurrentIterationError`, naming ``subscribe()``:
  two loops over one inbox would split the events between them.
* The end of the source (``StopAsyncIteration`` after the last event, or the error that
  stopped the session) reaches every reader after the events it had not read yet.

Pure but for the futures it waits on; :class:`FanoutLog` below is its bookkeeping without
asyncio (property-tested).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Generic, TypeVar

from ._aio import Waiters
from .errors import (
    ConcurrentIterationError,
    InvalidValueError,
    SessionClosedError,
    SubscriberLagError,
    WebChatError,
)

__all__ = ["DEFAULT_SUBSCRIBER_LIMIT", "Fanout", "FanoutLog", "Reader", "Subscription"]

#: How many events a subscriber may fall behind the newest before it is detached.
DEFAULT_SUBSCRIBER_LIMIT = 1000

#: The largest ``limit`` a subscription may ask for: the log is the sum of the readers' lags.
MAX_SUBSCRIBER_LIMIT = 100_000

#: Subscriptions on one session, at most (each costs a wake-up per event).
MAX_SUBSCRIBERS = 1000

_T = TypeVar("_T")


class Reader:
    """One reader's position in a :class:`FanoutLog`."""

    __slots__ = ("behind", "detached", "gone", "limit", "position")

    def __init__(self, position: int, limit: int) -> None:
        self.position = position
        self.limit = limit
        self.detached = False
        #: Unsubscribed: reads nothing more.
        self.gone = False
        #: How far behind it was when detached (for the error text).
        self.behind = 0


class FanoutLog(Generic[_T]):
    """The log of events not yet read by every reader, and the readers' positions.

    Positions are absolute sequence numbers: the log holds events ``base`` to ``end - 1``.
    """

    __slots__ = ("_base", "_events", "readers")

    def __init__(self) -> None:
        self._events: deque[_T] = deque()
        self._base = 0
        self.readers: list[Reader] = []

    @property
    def end(self) -> int:
        """The sequence number the next appended event gets."""
        return self._base + len(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def attach(self, limit: int) -> Reader:
        """A new reader, positioned at the newest event (it reads what comes after)."""
        reader = Reader(self.end, limit)
        self.readers.append(reader)
        return reader

    def detach(self, reader: Reader) -> None:
        """Forget ``reader`` (idempotent) and drop what no one else needs."""
        reader.gone = True
        if reader in self.readers:
            self.readers.remove(reader)
        self._trim()

    def append(self, event: _T) -> None:
        """Add an event; detach every reader now more than its limit behind."""
        self._events.append(event)
        end = self.end
        lagging = [r for r in self.readers if end - r.position > r.limit]
        for reader in lagging:
            reader.detached = True
            reader.behind = end - reader.position
            self.readers.remove(reader)
        self._trim()

    def has_next(self, reader: Reader) -> bool:
        """Whether ``reader`` has an event to read in the log."""
        return reader.position < self.end

    def take(self, reader: Reader) -> _T:
        """The reader's next event (``has_next`` must be true); moves it on."""
        event = self._events[reader.position - self._base]
        reader.position += 1
        if reader.position - 1 == self._base:
            self._trim()
        return event

    def _trim(self) -> None:
        readers = self.readers
        oldest = min((r.position for r in readers), default=self.end)
        events = self._events
        while self._base < oldest and events:
            events.popleft()
            self._base += 1


class Fanout(Generic[_T]):
    """The readers of one session's events (see the module's docstring).

    Args:
        take: the source: the next event, ``StopAsyncIteration`` at its end, or the error
            that stopped it; cancelling it must take nothing.
        closed: whether the session is closed (a subscription is refused then).
    """

    __slots__ = (
        "_closed",
        "_end",
        "_made_log",
        "_primary",
        "_primary_busy",
        "_pulling",
        "_take",
        "_waiters",
    )

    def __init__(self, take: Callable[[], Awaitable[_T]], closed: Callable[[], bool]) -> None:
        self._take = take
        self._closed = closed
        # Made at the first subscription: an empty deque costs ~600 bytes, and most
        # sessions (thousands per process) never have a subscriber.
        self._made_log: FanoutLog[_T] | None = None
        # Created at the first subscription: until then the primary reads the source.
        self._primary: Reader | None = None
        self._primary_busy = False
        self._pulling = False
        # The source's end, once seen: StopAsyncIteration or the error that stopped it.
        self._end: BaseException | None = None
        self._waiters = Waiters()

    @property
    def _log(self) -> FanoutLog[_T]:
        log = self._made_log
        if log is None:
            log = self._made_log = FanoutLog()
        return log

    @property
    def alone(self) -> bool:
        """Whether a read of ``events()`` may take from the source inline: no subscriber
        (nor events that ``events()`` has yet to read from the log) and no other read of
        ``events()`` waiting."""
        return self._primary is None and not self._primary_busy

    @property
    def subscribers(self) -> int:
        """How many subscriptions are attached."""
        if self._made_log is None:
            return 0
        readers = len(self._made_log.readers)
        return readers - 1 if self._primary is not None and not self._primary.detached else readers

    def subscribe(self, limit: int = DEFAULT_SUBSCRIBER_LIMIT) -> Subscription[_T]:
        """A new subscription (see :class:`Subscription`)."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int, not {type(limit).__name__}")
        if not 1 <= limit <= MAX_SUBSCRIBER_LIMIT:
            raise InvalidValueError(
                f"limit must be 1 to {MAX_SUBSCRIBER_LIMIT}, not {limit}", name="limit"
            )
        if self._closed():
            raise SessionClosedError("the session is closed")
        if self.subscribers >= MAX_SUBSCRIBERS:
            raise WebChatError(f"a session takes at most {MAX_SUBSCRIBERS} subscriptions")
        log = self._log
        if self._primary is None:
            # From now on the primary reads through the log too; it keeps what it has not
            # read yet for as long as a subscriber would.
            self._primary = log.attach(DEFAULT_SUBSCRIBER_LIMIT)
        return Subscription(self, log.attach(limit))

    # -- reading ---------------------------------------------------------------------------

    async def next_primary(self) -> _T:
        """The next event for ``events()``."""
        if self._primary_busy:
            raise ConcurrentIterationError(
                "events() is already being read by another consumer; every consumer but "
                "one must use session.subscribe(), which gives each its own copy of the events"
            )
        self._primary_busy = True
        try:
            primary = self._primary
            if primary is not None and len(self._log.readers) == 1 and not primary.detached:
                if not self._log.has_next(primary):
                    # The subscribers have gone and nothing waits: back to the source.
                    self._log.detach(primary)
                    self._primary = primary = None
            if primary is None:
                return await self._take_alone()
            if primary.detached:
                behind = primary.behind
                self._primary = self._log.attach(primary.limit)
                raise SubscriberLagError(
                    f"events() fell {behind} events behind the subscribers and missed them; "
                    "it continues from the newest event",
                    behind=behind,
                )
            return await self._next(primary)
        finally:
            self._primary_busy = False

    async def _take_alone(self) -> _T:
        """The primary's read while no subscriber is attached: the source itself."""
        self._pulling = True
        try:
            event = await self._take()
        except (StopAsyncIteration, Exception) as exc:
            if self._primary is not None:  # a subscriber came meanwhile: it ends too
                self._end = exc
            raise
        finally:
            self._pulling = False
            if self._waiters:
                self._waiters.wake()
        primary = self._primary
        if primary is None:
            return event
        # A subscriber came while the primary waited: the event is delivered after it
        # subscribed, so it is its too.
        self._log.append(event)
        if primary.detached:  # cannot be: a limit is at least 1; kept for safety
            return event
        return self._log.take(primary)

    async def _next(self, reader: Reader) -> _T:
        log = self._log
        while True:
            if reader.gone:
                raise StopAsyncIteration
            if reader.detached:
                raise SubscriberLagError(
                    f"the subscriber fell {reader.behind} events behind (its limit is "
                    f"{reader.limit}) and was detached",
                    behind=reader.behind,
                )
            if log.has_next(reader):
                return log.take(reader)
            end = self._end
            if end is not None:
                raise end
            if self._pulling:
                await self._waiters.wait()
                continue
            self._pulling = True
            try:
                event = await self._take()
            except StopAsyncIteration as exc:
                self._end = exc
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._end = exc
                continue
            finally:
                self._pulling = False
                self._waiters.wake()
            log.append(event)

    def _leave(self, reader: Reader) -> None:
        self._log.detach(reader)
        self._waiters.wake()


class Subscription(Generic[_T]):
    """Every event of a session delivered after :meth:`~webchat_async.GuestSession.subscribe`
    returned it, independently of ``events()`` and of other subscriptions.

    An async iterator; ``async with`` it to unsubscribe at the end of the block (or call
    :meth:`close`). It ends after :class:`~webchat_async.ConversationEnded`, when the
    session closes, or when closed; it raises the error that stopped the session, and
    :class:`~webchat_async.errors.SubscriberLagError` (then ends) if it fell more than
    ``limit`` events behind the newest.
    """

    __slots__ = ("_closed", "_fanout", "_reader")

    def __init__(self, fanout: Fanout[_T], reader: Reader) -> None:
        self._fanout = fanout
        self._reader = reader
        self._closed = False

    @property
    def pending(self) -> int:
        """Events delivered to the session and not yet read from this subscription."""
        if self._closed or self._reader.detached:
            return 0
        return self._fanout._log.end - self._reader.position

    def close(self) -> None:
        """Unsubscribe (idempotent): the iterator ends, and keeps nothing more."""
        if not self._closed:
            self._closed = True
            self._fanout._leave(self._reader)

    def __aiter__(self) -> Subscription[_T]:
        return self

    async def __anext__(self) -> _T:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self._fanout._next(self._reader)
        except SubscriberLagError:
            self.close()
            raise

    async def __aenter__(self) -> Subscription[_T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "detached" if self._reader.detached else "open"
        return f"<Subscription {state} pending={self.pending} limit={self._reader.limit}>"
