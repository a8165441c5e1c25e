"""Cancellation in the middle of a send, a receive, a backfill, a reconnect and a start.

After each: no task of the SDK is left, no socket is attached on the simulator, no request
holds a slot of the httpx pool (and the pool is closed with its client), and the loop's
exception handler was never called (the ``loop_errors`` fixture). Each scenario runs in a
simulator of its own, so that once it has stopped *every* task must be gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from chaos_support import GREETING, TIMEOUT, HandshakeTap, RestTap, Tracker, figures, start

from webchat_async import Backoff
from webchat_async._events import Event, MemberJoined, MessageReceived
from webchat_async.api import WebChatApi
from webchat_async.models import MemberRole
from webchat_async.session import GuestSession
from webchat_async.simulator import Agent, Simulator

#: How long the simulator holds a request that the test cancels meanwhile.
HOLD = 0.3
#: A reconnect schedule that keeps retrying for a while, with a real (short) sleep.
RETRYING = Backoff(initial=0.02, maximum=0.02, jitter=0.0)


def pool_in_use(api: WebChatApi) -> tuple[int, int]:
    """``(requests waiting, connections busy)`` of the api's pool (aiohttp's)."""
    transport: Any = api._http._client._transport
    in_use: tuple[int, int] = transport.pool_in_use()
    return in_use


@asynccontextmanager
async def scenario() -> AsyncIterator[tuple[Simulator, WebChatApi]]:
    """A simulator and an API client; on exit both are gone and no task survives."""
    before = asyncio.all_tasks()
    async with Simulator(heartbeat_interval=None, agent=Agent()) as sim:
        api = WebChatApi(base_url=sim.base_url)
        try:
            yield sim, api
        finally:
            await api.aclose()
        assert api.is_closed
        assert pool_in_use(api) == (0, 0)
        assert all(c.socket_count == 0 for c in sim.state.conversations.values())
    leftover = asyncio.all_tasks() - before
    assert leftover == set(), leftover


async def cancel_when(task: asyncio.Task[Any], ready: Callable[[], Awaitable[object]]) -> None:
    """Cancel ``task`` once ``ready()`` returns, and check that it ends cancelled."""
    await asyncio.wait_for(ready(), TIMEOUT)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def greeted(sim: Simulator, session: GuestSession) -> None:
    """Consume the routing events: the greeting and the agent's joining (in either order,
    depending on whether the first backfill or the live frames brought the greeting).
    After both, the reader is idle: its member fetches are done."""
    await sim.wait_routed(session.conversation_id)
    seen: set[str] = set()

    def both(event: Event) -> bool:
        if isinstance(event, MessageReceived) and event.message.body == GREETING:
            seen.add("greeting")
        elif isinstance(event, MemberJoined) and event.member.role == MemberRole.AGENT:
            seen.add("agent")
        return len(seen) == 2

    await session.wait_for(both, timeout=TIMEOUT)


async def cancelled_send() -> None:
    async with scenario() as (sim, api):
        tap = RestTap(sim)
        session = await start(sim, api=api)
        await greeted(sim, session)
        arrived = tap.arrival()
        sim.faults.delay(HOLD, n=1)  # the POST is held by the server: in flight
        send = asyncio.create_task(session.send_message("in flight"))
        await cancel_when(send, arrived.wait)
        # The cancelled request gave its slot back; the session goes on.
        assert pool_in_use(api) == (0, 0)
        assert (await session.send_message("after")).body == "after"
        await session.aclose()
        assert session._reader is None and not session._stream.connected


async def test_cancel_mid_send(loop_errors: object, scale: int) -> None:
    for _ in range(scale):
        await cancelled_send()
    figures("CHAOS cancel_mid_send", rounds=scale, leftover_tasks=0, pool_in_use=0)


async def cancelled_receive_and_backfill(text: str) -> list[str]:
    async with scenario() as (sim, api):
        tap = RestTap(sim)
        session = await start(sim, api=api)
        cid = session.conversation_id
        await greeted(sim, session)
        # A consumer waiting on an empty inbox is cancelled: nothing is taken out.
        waiting = asyncio.create_task(anext(aiter(session.events())))
        # Nothing is due, so it must still be waiting after a while (an assertion that
        # nothing happens, not a wait for something to happen).
        done, _ = await asyncio.wait({waiting}, timeout=0.05)
        assert not done
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await sim.agent_say(cid, text)
        async with Tracker(session) as tracker:
            await tracker.wait_text(text)
            # The reader is cancelled by aclose while its backfill request is held.
            arrived = tap.arrival()
            sim.faults.delay(HOLD, n=1)
            assert sim.faults.drop_sockets(cid) == 1
            await asyncio.wait_for(arrived.wait(), TIMEOUT)
            reader = session._reader
            assert reader is not None and not reader.done()
            await session.aclose()
            assert reader.cancelled()
            assert pool_in_use(api) == (0, 0)
            return tracker.texts()


async def test_cancel_mid_receive_and_mid_backfill(loop_errors: object, scale: int) -> None:
    received: list[str] = []
    for r in range(scale):
        received += await cancelled_receive_and_backfill(f"kept {r}")
    assert received == [f"kept {r}" for r in range(scale)]
    figures("CHAOS cancel_mid_receive", rounds=scale, lost=0, leftover_tasks=0, pool_in_use=0)


async def cancelled_reconnect() -> None:
    async with scenario() as (sim, api):
        handshakes = HandshakeTap(sim)
        holder: list[GuestSession] = []
        attached = asyncio.Event()

        async def user() -> None:
            async with start(sim, api=api, backoff=RETRYING) as session:
                holder.append(session)
                attached.set()
                async for _ in session:
                    pass

        task = asyncio.create_task(user())
        await asyncio.wait_for(attached.wait(), TIMEOUT)
        (session,) = holder
        cid = session.conversation_id
        await sim.wait_routed(cid)
        sim.faults.refuse_handshakes(1_000_000, status=503)
        assert sim.faults.drop_sockets(cid) == 1
        # The user's task is cancelled while its session is between two attempts.
        await cancel_when(task, lambda: handshakes.reached(handshakes.count + 3))
        sim.faults.clear()
        assert session._reader is None and not session._stream.connected
        # Leaving on exit still happened (the cancel came from outside the session).
        assert sim.state.conversations[cid].ended
        assert pool_in_use(api) == (0, 0)


async def test_cancel_mid_reconnect(loop_errors: object, scale: int) -> None:
    for _ in range(scale):
        await cancelled_reconnect()
    figures("CHAOS cancel_mid_reconnect", rounds=scale, leftover_tasks=0, sockets=0)


async def cancelled_start() -> None:
    async with scenario() as (sim, api):
        handshakes = HandshakeTap(sim)
        sim.faults.refuse_handshakes(1_000_000, status=503)

        async def open_session() -> GuestSession:
            return await start(sim, api=api, backoff=RETRYING)

        task = asyncio.create_task(open_session())
        await cancel_when(task, lambda: handshakes.reached(3))
        sim.faults.clear()
        (conversation,) = sim.state.conversations.values()
        assert conversation.socket_count == 0
        assert pool_in_use(api) == (0, 0)
        assert not api.is_closed  # a shared client is the caller's to close


async def test_cancel_mid_start(loop_errors: object, scale: int) -> None:
    for _ in range(scale):
        await cancelled_start()
    figures("CHAOS cancel_mid_start", rounds=scale, leftover_tasks=0, sockets=0)
