"""MessagingSession's fan-out: subscribe() and one events() at a time (issue 27, item 1)."""

from __future__ import annotations

import asyncio

import pytest
from wm_session_support import collect_until, is_text, start

from webchat_async import MessageReceived, SessionClosedError
from webchat_async._events import Event
from webchat_async._fanout import Subscription
from webchat_async.errors import ConcurrentIterationError
from webchat_async.simulator import Simulator

GREETING = "Hello, I'm Sam. How can I help you today?"


async def _texts_until(sub: Subscription[Event], last: str) -> list[str | None]:
    out: list[str | None] = []
    async for event in sub:
        if isinstance(event, MessageReceived):
            out.append(event.text)
            if event.text == last:
                break
    return out


async def test_two_subscribers_and_events_each_get_every_message(simulator: Simulator) -> None:
    async with start(simulator) as session:
        async with session.subscribe() as one, session.subscribe(limit=50) as two:
            await session.send_message("Hello")
            got = await asyncio.wait_for(
                asyncio.gather(
                    _texts_until(one, "You said: Hello"), _texts_until(two, "You said: Hello")
                ),
                10,
            )
        assert got[0] == got[1] == ["Hello", GREETING, "You said: Hello"]
        events = await collect_until(session, is_text("You said: Hello"))
        assert [e.text for e in events if isinstance(e, MessageReceived)] == got[0]
    with pytest.raises(SessionClosedError):
        session.subscribe()


async def test_a_second_concurrent_events_raises_naming_subscribe(simulator: Simulator) -> None:
    async with start(simulator) as session:
        loop = asyncio.create_task(collect_until(session, is_text("never")))
        for _ in range(100):
            await asyncio.sleep(0)
            if session._fanout._primary_busy:
                break
        with pytest.raises(ConcurrentIterationError, match=r"subscribe\(\)"):
            await session.events().__anext__()
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
