"""Helpers of the chaos suite (not a test module): a background event consumer that keeps
figures, taps on the simulator's request and handshake paths, and the figures line."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any

from loopback import GREETING, start_guest

from webchat_async._events import (
    Event,
    MemberJoined,
    MessageReceived,
    StreamDisconnected,
    StreamReconnected,
    UnknownEvent,
)
from webchat_async.models import BodyType, MemberRole, WebChatMessage
from webchat_async.session import GuestSession, _Starter
from webchat_async.simulator import Simulator
from webchat_async.simulator._faults import RestFault


def read_scale() -> int:
    """``WEBCHAT_CHAOS_SCALE`` (default 1): the multiplier of every count of the suite."""
    raw = os.environ.get("WEBCHAT_CHAOS_SCALE", "1")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"WEBCHAT_CHAOS_SCALE must be an integer, got {raw!r}") from None
    if value < 1:
        raise ValueError("WEBCHAT_CHAOS_SCALE must be at least 1")
    return value


SCALE = read_scale()

#: Safety net of every wait (never a way to wait for something): grows with the scale.
TIMEOUT = 30.0 + 10.0 * SCALE


def start(sim: Simulator, **kwargs: Any) -> _Starter:
    """A session of "Chaos Monkey" on the simulator with zero reconnect delays, no proxy."""
    return start_guest(sim, "Chaos Monkey", **kwargs)


def figures(name: str, **values: object) -> str:
    """Print the one-line figures of a test (``CHAOS name k=v ...``) and return it."""
    line = " ".join([name, *(f"{key}={value}" for key, value in values.items())])
    print(line)
    return line


def delivery(received: list[str], expected: list[str]) -> dict[str, int]:
    """Lost, duplicated and out-of-order counts of ``received`` against ``expected``."""
    position = {text: i for i, text in enumerate(expected)}
    seen = set(received)
    unique_in_order = list(dict.fromkeys(t for t in received if t in position))
    out_of_order = sum(
        1
        for before, after in itertools.pairwise(unique_in_order)
        if position[after] < position[before]
    )
    return {
        "delivered": len(received),
        "lost": sum(1 for text in expected if text not in seen),
        "duplicated": len(received) - len(seen),
        "out_of_order": out_of_order,
        "unexpected": len(seen - set(position)),
    }


class Tracker:
    """Consumes a session's events in a task of its own and keeps what it saw.

    Use it with ``async with``; wait for a condition with :meth:`wait` (a condition
    variable, never a sleep). An error raised by the session's iterator is kept in
    :attr:`error`.
    """

    def __init__(self, session: GuestSession) -> None:
        self.session = session
        self.events: list[Event] = []
        self.messages: list[WebChatMessage] = []
        self.disconnects: list[StreamDisconnected] = []
        self.reconnects: list[StreamReconnected] = []
        self.unknown: list[UnknownEvent] = []
        #: Bodies of every message received, for cheap membership tests.
        self.bodies: set[str] = set()
        self.error: BaseException | None = None
        self.finished = False
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Tracker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            async for event in self.session:
                self._record(event)
                async with self._changed:
                    self._changed.notify_all()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
        self.finished = True
        async with self._changed:
            self._changed.notify_all()

    def _record(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, MessageReceived):
            self.messages.append(event.message)
            self.bodies.add(event.message.body or "")
        elif isinstance(event, StreamDisconnected):
            self.disconnects.append(event)
        elif isinstance(event, StreamReconnected):
            self.reconnects.append(event)
        elif isinstance(event, UnknownEvent):
            self.unknown.append(event)

    def texts(self, sender: str | None = None) -> list[str]:
        """Bodies of the ``standard`` messages received (from ``sender`` when given)."""
        return [
            m.body or ""
            for m in self.messages
            if m.body_type == BodyType.STANDARD
            and (sender is None or (m.sender is not None and m.sender.id == sender))
        ]

    @property
    def backfilled(self) -> int:
        """Messages recovered through the messages endpoint after reconnects."""
        return sum(r.backfilled for r in self.reconnects)

    async def wait(self, predicate: Callable[[Tracker], bool], timeout: float = TIMEOUT) -> None:
        """Return once ``predicate(self)`` holds; fail if the events end first."""

        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self) or self.finished)

        await asyncio.wait_for(until(), timeout)
        if not predicate(self):
            raise AssertionError(f"the events ended ({self.error!r}) before the condition")

    async def wait_text(self, body: str) -> None:
        """Return once a standard message with this body was received."""
        await self.wait(lambda t: body in t.bodies)

    async def wait_greeted(self) -> None:
        """Return once the greeting and the agent's joining were received.

        They come in either order (the first backfill may bring the greeting before the
        member frames are read); after both, the reader is idle, its member fetches done.
        """

        def greeted(t: Tracker) -> bool:
            joined = any(
                isinstance(e, MemberJoined) and e.member.role == MemberRole.AGENT for e in t.events
            )
            return GREETING in t.bodies and joined

        await self.wait(greeted)

    async def wait_reconnects(self, count: int) -> None:
        """Return once ``count`` StreamReconnected events were received."""
        await self.wait(lambda t: len(t.reconnects) >= count)


class _Counter:
    """A count that can be awaited (``await counter.reached(n)``)."""

    def __init__(self) -> None:
        self.count = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def bump(self) -> None:
        self.count += 1
        keep = []
        for wanted, future in self._waiters:
            if self.count >= wanted:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((wanted, future))
        self._waiters = keep

    async def reached(self, count: int, timeout: float = TIMEOUT) -> None:
        if self.count >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, future))
        await asyncio.wait_for(future, timeout)


class HandshakeTap(_Counter):
    """Counts the websocket handshakes the simulator receives.

    The simulator asks its fault controls once per handshake whether to refuse it; the
    tap wraps that question (instrumentation only: the answer is unchanged).
    """

    def __init__(self, sim: Simulator) -> None:
        super().__init__()
        original = sim.faults.take_handshake_refusal

        def counting() -> int | None:
            self.bump()
            return original()

        sim.faults.take_handshake_refusal = counting  # type: ignore[method-assign]


class RestTap(_Counter):
    """Runs actions as API requests reach the simulator, before they are processed.

    ``tap.next(action)`` runs ``action()`` as each API request arrives until it returns
    true; ``count`` counts every API request. The simulator's fault decision is unchanged.
    """

    def __init__(self, sim: Simulator) -> None:
        super().__init__()
        self._next: list[Callable[[], bool]] = []
        original = sim.faults.take_rest_fault

        def tapped() -> RestFault | None:
            self._next = [action for action in self._next if not action()]
            self.bump()
            return original()

        sim.faults.take_rest_fault = tapped  # type: ignore[method-assign]

    def next(self, action: Callable[[], bool]) -> None:
        """Run ``action`` as requests arrive, until it returns true."""
        self._next.append(action)

    def arrival(self) -> asyncio.Event:
        """An event set when the next API request reaches the server."""
        arrived = asyncio.Event()

        def mark() -> bool:
            arrived.set()
            return True

        self.next(mark)
        return arrived

    @property
    def armed(self) -> bool:
        """Whether actions wait for the next request."""
        return bool(self._next)
