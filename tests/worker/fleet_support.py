"""In-process helpers of the fleet tests: an echo handler that records what it did, and
waiting for a condition on it (never a sleep)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from webchat_async import Event, MessageReceived
from webchat_async.simulator import Simulator
from webchat_async.worker import Chat, LeaseLost, MemoryStore, Worker

TIMEOUT = 20.0


class Clock:
    """Seconds, moved by the test (a store's or a worker's ``clock``)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class EchoRecorder:
    """``handler(chat, event)``: answers each agent text with ``echo: <text>`` and records
    ``(conversation id, event key, worker id)`` of every event handled."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, str, str, Event]] = []
        self._changed = asyncio.Condition()

    async def __call__(self, chat: Chat, event: Event) -> None:
        if (
            isinstance(event, MessageReceived)
            and not chat.is_own(event.message)
            and event.message.body
            and event.message.body_type in (None, "standard")
        ):
            await chat.send_message(f"echo: {event.message.body}")
        self.handled.append((chat.conversation_id, chat.event_key, chat.worker_id, event))
        async with self._changed:
            self._changed.notify_all()

    async def wait(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Return once ``predicate()`` holds (checked after each handled event)."""

        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(until(), timeout)


def guest_texts(sim: Simulator, conversation_id: str) -> list[str]:
    """The guest's own text messages in a simulated conversation, in order."""
    conversation = sim.state.conversations[conversation_id]
    return [
        m.body or ""
        for m in conversation.messages
        if m.sender is not None
        and m.sender.id == conversation.guest_member_id
        and m.body_type in (None, "standard")
    ]


class LogSeen(logging.Handler):
    """Sets an event when a record of the worker's logger contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = asyncio.Event()
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.text in message:
            self.records.append(message)
            self.seen.set()


@contextlib.contextmanager
def watching(text: str) -> Iterator[LogSeen]:
    log = logging.getLogger("webchat_async.worker")
    handler = LogSeen(text)
    level = log.level
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


class GatedStore(MemoryStore):
    """Pauses the worker right after it recorded a send, until the test says."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.pause_after_record = False
        self.paused = asyncio.Event()
        self.resume = asyncio.Event()

    async def record_send(self, *args: object, **kwargs: object) -> None:
        await super().record_send(*args, **kwargs)  # type: ignore[arg-type]
        if self.pause_after_record:
            self.pause_after_record = False
            self.paused.set()
            await self.resume.wait()


#: Fake seconds: no lease runs out on its own during a test that moves the clock itself.
CLOCKED_LEASE = 100.0


def clocked_worker(handler: object, store: MemoryStore, clock: Clock, name: str) -> Worker:
    """A worker on ``clock`` that scans often and whose lease runs out only when the test
    moves the clock past :data:`CLOCKED_LEASE`."""
    return Worker(
        handler,  # type: ignore[arg-type]
        store=store,
        lease=CLOCKED_LEASE,
        scan_interval=0.02,
        worker_id=name,
        clock=clock,
    )


class CrashAfterReply:
    """A handler that, once ``handler`` has replied to the agent's "one" (sent and
    stored), stops before its commit until ``hold`` is set, as a worker that crashed
    there; then its late send must be refused, and the refusal is kept in ``late``.
    Either protocol: it reads only the shared ``MessageReceived.text``."""

    def __init__(self, handler: Callable[[Chat, Event], Awaitable[None]]) -> None:
        self.handler = handler
        self.crashed = asyncio.Event()
        self.hold = asyncio.Event()
        self.late: list[BaseException] = []

    async def __call__(self, chat: Chat, event: Event) -> None:
        await self.handler(chat, event)
        if isinstance(event, MessageReceived) and event.text == "one":
            self.crashed.set()
            await self.hold.wait()
            try:
                await chat.send_message("too late")
            except LeaseLost as exc:
                self.late.append(exc)
