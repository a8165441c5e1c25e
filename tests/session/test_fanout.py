"""Fan-out of one session's events (webchat_async/_fanout.py): the pure log with hypothesis,
the asyncio side with a queue as the source, then GuestSession on the simulator."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from session_support import GREETING, collect_until, is_text, start

from webchat_async._events import ConversationEnded, Event, MessageReceived
from webchat_async._fanout import DEFAULT_SUBSCRIBER_LIMIT, Fanout, FanoutLog
from webchat_async.errors import (
    ConcurrentIterationError,
    InvalidValueError,
    SessionClosedError,
    StreamError,
    SubscriberLagError,
)
from webchat_async.simulator import Simulator

_END = object()


class Source:
    """A session's inbox stand-in: ``take`` is cancellation-safe, like the feed's."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.end: BaseException | None = None
        self.closed = False

    async def take(self) -> int:
        if self.end is not None:
            raise self.end
        item = await self.queue.get()
        if item is _END:
            self.end = StopAsyncIteration()
            raise self.end
        if isinstance(item, BaseException):
            self.end = item
            raise item
        assert isinstance(item, int)
        return item

    def put(self, *items: object) -> None:
        for item in items:
            self.queue.put_nowait(item)


def fanout(source: Source) -> Fanout[int]:
    return Fanout(source.take, lambda: source.closed)


async def drain(iterator: object, n: int) -> list[int]:
    out: list[int] = []
    it = iterator.__aiter__()  # type: ignore[attr-defined]
    for _ in range(n):
        out.append(await asyncio.wait_for(it.__anext__(), 5))
    return out


# -- the pure log -------------------------------------------------------------------------

# Operations on a log of 3 readers: append an event, or let reader i read one.
_ops = st.lists(
    st.one_of(st.just(("append", 0)), st.tuples(st.just("read"), st.integers(0, 2))),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(ops=_ops, limits=st.tuples(*(st.integers(1, 8),) * 3))
def test_log_gives_each_reader_every_event_in_order_or_detaches_it(
    ops: list[tuple[str, int]], limits: tuple[int, int, int]
) -> None:
    log: FanoutLog[int] = FanoutLog()
    readers = [log.attach(limit) for limit in limits]
    got: list[list[int]] = [[], [], []]
    appended = 0
    for op, i in ops:
        if op == "append":
            log.append(appended)
            appended += 1
        elif not readers[i].detached and log.has_next(readers[i]):
            got[i].append(log.take(readers[i]))
        for reader in readers:  # nobody is ever further behind than its limit
            if not reader.detached:
                assert log.end - reader.position <= reader.limit
    live = [r for r in readers if not r.detached]
    for i, reader in enumerate(readers):
        # Every reader saw a prefix of the events, in order, with no gap.
        assert got[i] == list(range(len(got[i])))
        if reader.detached:
            assert reader.behind == reader.limit + 1
    # The log keeps exactly what the slowest live reader has not read.
    oldest = min((r.position for r in live), default=appended)
    assert len(log) == appended - oldest


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 50), leave_at=st.integers(0, 50))
def test_log_is_empty_once_every_reader_left(n: int, leave_at: int) -> None:
    log: FanoutLog[int] = FanoutLog()
    a, b = log.attach(100), log.attach(100)
    for i in range(n):
        log.append(i)
        if i == leave_at:
            log.detach(a)
    log.detach(a)
    log.detach(b)
    assert len(log) == 0 and log.readers == []


# -- the asyncio side, with a queue as the source -------------------------------------------


async def test_two_subscribers_each_get_every_event_independently_of_events() -> None:
    source = Source()
    hub = fanout(source)
    one, two = hub.subscribe(), hub.subscribe()
    source.put(1, 2, 3)
    assert await drain(one, 3) == [1, 2, 3]  # no one reads events(): still delivered
    assert await drain(two, 3) == [1, 2, 3]
    assert await drain(_Primary(hub), 3) == [1, 2, 3]  # events() keeps them too
    source.put(_END)
    for sub in (one, two):
        with pytest.raises(StopAsyncIteration):
            await sub.__anext__()


class _Primary:
    def __init__(self, hub: Fanout[int]) -> None:
        self.hub = hub

    def __aiter__(self) -> _Primary:
        return self

    async def __anext__(self) -> int:
        return await self.hub.next_primary()


async def test_concurrent_readers_all_wake_and_see_the_same_order() -> None:
    source = Source()
    hub = fanout(source)
    subs = [hub.subscribe() for _ in range(5)]
    tasks = [asyncio.create_task(drain(s, 100)) for s in subs]
    primary = asyncio.create_task(drain(_Primary(hub), 100))
    await asyncio.sleep(0)
    for i in range(100):
        source.put(i)
        if i % 7 == 0:
            await asyncio.sleep(0)
    results = await asyncio.gather(*tasks, primary)
    assert all(r == list(range(100)) for r in results)


async def test_a_second_concurrent_events_raises_naming_subscribe() -> None:
    source = Source()
    hub = fanout(source)
    first = asyncio.create_task(hub.next_primary())
    await asyncio.sleep(0)
    with pytest.raises(ConcurrentIterationError, match=r"subscribe\(\)"):
        await hub.next_primary()
    source.put(7)
    assert await first == 7  # the first consumer is untouched
    # In turn (not concurrently) two events() continue one another.
    source.put(8)
    assert await hub.next_primary() == 8


async def test_a_lagging_subscriber_is_told_and_never_slows_the_others() -> None:
    source = Source()
    hub = fanout(source)
    slow = hub.subscribe(limit=3)
    fast = hub.subscribe(limit=100)
    source.put(*range(10))
    assert await drain(fast, 10) == list(range(10))  # not held back by the slow one
    with pytest.raises(SubscriberLagError, match="4 events behind") as caught:
        await slow.__anext__()
    assert caught.value.behind == 4
    with pytest.raises(StopAsyncIteration):  # then it ends: never a silent gap
        await slow.__anext__()
    # events() beside subscribers: it keeps DEFAULT_SUBSCRIBER_LIMIT, then is told too.
    assert await drain(_Primary(hub), 10) == list(range(10))


async def test_events_told_when_it_falls_behind_then_continues_from_the_newest() -> None:
    source = Source()
    hub = fanout(source)
    sub = hub.subscribe(limit=DEFAULT_SUBSCRIBER_LIMIT + 10)
    total = DEFAULT_SUBSCRIBER_LIMIT + 1
    source.put(*range(total))
    assert len(await drain(sub, total)) == total
    with pytest.raises(SubscriberLagError):
        await hub.next_primary()
    source.put(-1)
    assert await hub.next_primary() == -1
    assert await sub.__anext__() == -1


async def test_the_sources_error_reaches_every_reader_after_its_events() -> None:
    source = Source()
    hub = fanout(source)
    one, two = hub.subscribe(), hub.subscribe()
    failure = StreamError("stream gone")
    source.put(1, failure)
    assert await drain(one, 1) == [1]
    with pytest.raises(StreamError):
        await one.__anext__()
    assert await drain(two, 1) == [1]
    with pytest.raises(StreamError):
        await two.__anext__()


async def test_unsubscribe_frees_the_log_and_ends_a_waiting_iteration() -> None:
    source = Source()
    hub = fanout(source)
    async with hub.subscribe() as sub:
        waiting = asyncio.create_task(drain(sub, 1))
        await asyncio.sleep(0)
        source.put(1)
        assert await waiting == [1]
        other = hub.subscribe()
        source.put(2, 3)
        assert await drain(other, 2) == [2, 3]
    assert hub.subscribers == 1
    other.close()
    assert hub.subscribers == 0
    with pytest.raises(StopAsyncIteration):
        await sub.__anext__()
    # Alone again: events() reads the source directly, the log is empty.
    source.put(4)
    # events() first gets what it had not read yet, then the source's next.
    assert await drain(_Primary(hub), 4) == [1, 2, 3, 4]
    assert hub._primary is None and len(hub._log) == 0


async def test_a_subscriber_added_while_events_waits_gets_the_next_event() -> None:
    source = Source()
    hub = fanout(source)
    waiting = asyncio.create_task(hub.next_primary())
    await asyncio.sleep(0)
    sub = hub.subscribe()
    source.put(5)
    assert await waiting == 5
    assert await drain(sub, 1) == [5]


async def test_cancelling_a_reader_loses_nothing_for_the_others() -> None:
    source = Source()
    hub = fanout(source)
    sub = hub.subscribe()
    puller = asyncio.create_task(sub.__anext__())
    await asyncio.sleep(0)
    behind = asyncio.create_task(hub.next_primary())  # waits on the puller
    await asyncio.sleep(0)
    puller.cancel()
    await asyncio.gather(puller, return_exceptions=True)
    source.put(9)
    assert await asyncio.wait_for(behind, 5) == 9
    assert await drain(sub, 1) == [9]


async def test_subscribe_checks_its_arguments_and_the_session() -> None:
    source = Source()
    hub = fanout(source)
    with pytest.raises(InvalidValueError, match="limit"):
        hub.subscribe(0)
    with pytest.raises(TypeError):
        hub.subscribe(True)
    source.closed = True
    with pytest.raises(SessionClosedError):
        hub.subscribe()


# -- GuestSession on the simulator ----------------------------------------------------------


async def test_guest_session_two_subscribers_and_events_each_get_every_message(
    simulator: Simulator,
) -> None:
    async with start(simulator) as session:
        async with session.subscribe() as one, session.subscribe() as two:
            await simulator.wait_routed(session.conversation_id)
            await session.send_message("hi")

            async def texts(sub: object) -> list[str | None]:
                out: list[str | None] = []
                async for event in sub:  # type: ignore[attr-defined]
                    if isinstance(event, MessageReceived):
                        out.append(event.text)
                        if event.text == "You said: hi":
                            return out
                return out

            got = await asyncio.wait_for(asyncio.gather(texts(one), texts(two)), 10)
            assert got[0] == got[1]
            assert {GREETING, "hi", "You said: hi"} <= set(got[0])
        # events() still has them all, from the start.
        events = await collect_until(session, is_text("You said: hi"))
        assert any(isinstance(e, MessageReceived) and e.text == GREETING for e in events)
        await session.leave()
        sub = session.subscribe()
        ended: list[Event] = [e async for e in sub]
        assert any(isinstance(e, ConversationEnded) for e in ended)


async def test_guest_session_second_events_and_wait_for_beside_a_loop_raise(
    simulator: Simulator,
) -> None:
    async with start(simulator) as session:
        loop = asyncio.create_task(collect_until(session, is_text("never")))
        for _ in range(100):  # until the loop waits in events() (no wall-clock sleep)
            await asyncio.sleep(0)
            if session._fanout._primary_busy:
                break
        assert session._fanout._primary_busy
        with pytest.raises(ConcurrentIterationError, match=r"subscribe\(\)"):
            await session.wait_for(MessageReceived, timeout=1)
        with pytest.raises(ConcurrentIterationError):
            await session.events().__anext__()
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        # The loop gone, events() works again.
        await session.send_message("again")
        await collect_until(session, is_text("You said: again"))
    with pytest.raises(SessionClosedError):
        session.subscribe()
