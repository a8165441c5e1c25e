"""GuestSession on the simulator under faults: drops, resume, auth failure, cancellation."""

from __future__ import annotations

import asyncio

import pytest
from session_support import GREETING, collect_until, is_text, of_type, start, texts

from webchat_async import Backoff
from webchat_async._events import (
    ConversationEnded,
    Event,
    MessageReceived,
    StreamDisconnected,
    StreamReconnected,
)
from webchat_async.errors import AuthenticationError, StreamError
from webchat_async.models import BodyType
from webchat_async.session import GuestSession, SavedSession
from webchat_async.simulator import Simulator


async def greeted(sim: Simulator, session: GuestSession) -> list[Event]:
    await sim.wait_routed(session.conversation_id)
    return await collect_until(session, is_text(GREETING))


async def test_a_thousand_messages_through_a_hundred_drops_arrive_once_in_order(
    simulator: Simulator,
) -> None:
    total, drops_wanted = 1000, 100
    async with start(simulator, queue_size=64) as session:
        cid = session.conversation_id
        await greeted(simulator, session)
        agent = simulator.state.conversations[cid].agent_member_id
        reconnects = 0
        reattached = asyncio.Condition()
        received: list[str] = []
        backfilled = 0

        async def consume() -> None:
            nonlocal reconnects, backfilled
            async for event in session:
                if isinstance(event, MessageReceived):
                    m = event.message
                    if (
                        m.sender is not None
                        and m.sender.id == agent
                        and m.body_type == BodyType.STANDARD
                    ):
                        received.append(m.body or "")
                elif isinstance(event, StreamReconnected):
                    backfilled += event.backfilled
                    async with reattached:
                        reconnects += 1
                        reattached.notify_all()
                # The last StreamReconnected follows the messages it recovered.
                if len(received) >= total and reconnects == drops_wanted:
                    return

        async def produce() -> int:
            drops = 0
            for i in range(total):
                await simulator.agent_say(cid, str(i))
                if i % 10 == 5 and drops < drops_wanted:
                    # The next messages go out while the guest is detached: only the
                    # backfill can recover them. Wait for the previous reattach first, so
                    # that every drop hits a live socket.
                    async with reattached:
                        await reattached.wait_for(lambda n=drops: reconnects == n)
                    assert simulator.faults.drop_sockets(cid) == 1
                    drops += 1
            return drops

        consumer = asyncio.create_task(consume())
        drops = await asyncio.wait_for(produce(), 30)
        await asyncio.wait_for(consumer, 30)
        assert drops == drops_wanted
        assert received == [str(i) for i in range(total)]
        assert reconnects == drops_wanted
        assert backfilled > 0  # some were only recoverable through the backfill
        assert simulator.state.conversations[cid].socket_count == 1


async def test_duplicate_frames_are_yielded_once(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await greeted(simulator, session)
        simulator.faults.duplicate_next_events(5)
        for text in ("a", "b", "c", "d", "e"):
            await simulator.agent_say(cid, text)
        events = await collect_until(session, is_text("e"))
        assert texts(events) == ["a", "b", "c", "d", "e"]


async def test_save_then_resume_in_another_task_loses_nothing(simulator: Simulator) -> None:
    first = await start(simulator)
    cid = first.conversation_id
    await greeted(simulator, first)
    await simulator.agent_say(cid, "before save")
    await collect_until(first, is_text("before save"))
    # Received by the first session's reader but never consumed: must not be skipped.
    await simulator.agent_say(cid, "unconsumed")
    text = first.save().to_json()
    await first.aclose()  # save() switched leave_on_exit off
    conversation = simulator.state.conversations[cid]
    assert not conversation.ended and conversation.socket_count == 0
    # Sent while nobody is attached.
    for i in range(5):
        await simulator.agent_say(cid, f"away {i}")

    async def elsewhere() -> list[str]:
        saved = SavedSession.from_json(text)
        async with GuestSession.resume(saved, backoff=Backoff.none(), proxy=None) as second:
            events = await collect_until(second, is_text("away 4"))
            await simulator.agent_say(cid, "live")
            events += await collect_until(second, is_text("live"))
            await second.leave()
            return texts(events)

    got = await asyncio.wait_for(asyncio.create_task(elsewhere()), 10)
    assert got == ["unconsumed", *(f"away {i}" for i in range(5)), "live"]


async def test_expired_jwt_on_the_handshake_stops_at_once(simulator: Simulator) -> None:
    session = await start(simulator)
    cid = session.conversation_id
    await greeted(simulator, session)
    saved = session.save()
    simulator.faults.expire_guest_tokens(cid)
    simulator.faults.drop_sockets(cid)
    seen: list[Event] = []
    with pytest.raises(AuthenticationError) as info:
        async for event in session:
            seen.append(event)
    assert isinstance(seen[-1], StreamDisconnected)
    assert not of_type(seen, StreamReconnected)
    assert saved.jwt not in str(info.value)
    # Raised once to the consumer; closing does not raise it again.
    await session.aclose()
    # Resuming with the expired JWT fails at once too, after a single handshake.
    with pytest.raises(AuthenticationError):
        await GuestSession.resume(saved, backoff=Backoff.none(), proxy=None)


async def test_a_failure_nobody_iterated_is_raised_by_exit(simulator: Simulator) -> None:
    with pytest.raises(AuthenticationError):
        async with start(simulator) as session:
            await simulator.wait_routed(session.conversation_id)
            simulator.faults.expire_guest_tokens(session.conversation_id)
            simulator.faults.drop_sockets(session.conversation_id)
            assert session._reader is not None
            await asyncio.wait({session._reader}, timeout=10)
            session.save()  # do not try to leave with the expired token


async def test_reconnect_window_exhausted_raises_stream_error(simulator: Simulator) -> None:
    async with start(simulator, max_reconnect_window=0.0, leave_on_exit=False) as session:
        await greeted(simulator, session)
        simulator.faults.refuse_handshakes(1, status=503)
        simulator.faults.drop_sockets(session.conversation_id)
        with pytest.raises(StreamError):
            async for _ in session:
                pass


async def test_cancelling_the_consumer_loses_nothing(simulator: Simulator) -> None:
    total = 200
    async with start(simulator) as session:
        cid = session.conversation_id
        await greeted(simulator, session)

        async def produce() -> None:
            for i in range(total):
                await simulator.agent_say(cid, str(i))
                if i % 50 == 0:
                    simulator.faults.drop_sockets(cid)

        producer = asyncio.create_task(produce())
        got: list[str] = []
        cancels = 0
        while len(got) < total:
            # A consumer task that is cancelled mid-iteration, again and again.
            task = asyncio.create_task(anext(aiter(session.events())))
            done, _ = await asyncio.wait({task}, timeout=0.001)
            if not done:
                task.cancel()
                cancels += 1
                try:
                    event = await task
                except asyncio.CancelledError:
                    continue
            else:
                event = task.result()
            if isinstance(event, MessageReceived) and event.message.body_type == BodyType.STANDARD:
                got.append(event.message.body or "")
        await producer
        assert got == [str(i) for i in range(total)]
        assert cancels > 0


async def test_cancelling_an_async_for_mid_iteration(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await greeted(simulator, session)
        first: list[str] = []
        waiting = asyncio.Event()

        async def reader() -> None:
            async for event in session:
                if isinstance(event, MessageReceived):
                    first.append(event.message.body or "")
                    if len(first) == 3:
                        waiting.set()

        task = asyncio.create_task(reader())
        for text in ("1", "2", "3"):
            await simulator.agent_say(cid, text)
        await asyncio.wait_for(waiting.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for text in ("4", "5"):
            await simulator.agent_say(cid, text)
        rest = await collect_until(session, is_text("5"))
        assert first + texts(rest) == ["1", "2", "3", "4", "5"]


async def test_no_task_survives_the_session(simulator: Simulator) -> None:
    before = asyncio.all_tasks()
    async with start(simulator) as session:
        await greeted(simulator, session)
        async with session.typing(interval=0.01):
            await session.send_message("hi")
        simulator.faults.drop_sockets(session.conversation_id)
        await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        assert session._reader in asyncio.all_tasks()
    leftover = [
        t
        for t in asyncio.all_tasks() - before
        if "simulator" not in t.get_coro().cr_code.co_filename  # type: ignore[union-attr]
        and "aiohttp" not in t.get_coro().cr_code.co_filename  # type: ignore[union-attr]
    ]
    assert leftover == []


@pytest.mark.parametrize("fault", ["close_1000", "close_1011", "socket_closing", "oversize"])
async def test_server_side_closes_are_recovered(simulator: Simulator, fault: str) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await greeted(simulator, session)
        if fault == "close_1000":
            await simulator.faults.close_sockets(cid, code=1000)
        elif fault == "close_1011":
            await simulator.faults.close_sockets(cid, code=1011)
        elif fault == "socket_closing":
            await simulator.faults.send_raw('{"topicName":"v2.system.socket_closing"}', cid)
        else:
            await simulator.faults.send_oversize(2 * 1024 * 1024, cid)
        await simulator.agent_say(cid, "after")
        events = await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        if not texts(events):  # said after the reattach: live, after StreamReconnected
            events += await collect_until(session, is_text("after"))
        assert len(of_type(events, StreamDisconnected)) == 1
        assert texts(events) == ["after"]


async def test_dead_peer_is_detected_and_recovered(simulator: Simulator) -> None:
    async with start(simulator, ping_interval=0.05, dead_peer_timeout=0.1) as session:
        cid = session.conversation_id
        await greeted(simulator, session)
        simulator.faults.hang_sockets(cid)
        await simulator.agent_say(cid, "while hung")
        events = await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        assert [e.reason for e in of_type(events, StreamDisconnected)] == ["dead peer"]
        assert of_type(events, StreamReconnected)[0].backfilled == 1
        assert texts(events) == ["while hung"]


async def test_refused_handshakes_are_retried(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await greeted(simulator, session)
        simulator.faults.refuse_handshakes(2, status=503)
        simulator.faults.drop_sockets(cid)
        events = await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        assert of_type(events, StreamReconnected)[0].attempts == 3


async def test_sending_while_the_stream_reconnects(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await greeted(simulator, session)
        simulator.faults.refuse_handshakes(3, status=503)
        simulator.faults.drop_sockets(cid)
        sent = await session.send_message("during the gap")
        events = await collect_until(session, is_text("You said: during the gap"))
        mine = [e for e in of_type(events, MessageReceived) if e.message.id == sent.id]
        assert len(mine) == 1
        path = f"/api/v2/webchat/guest/conversations/{cid}/members/{session.member_id}/messages"
        assert simulator.state.count_requests("POST", path) == 1


async def test_agent_ending_while_detached_ends_the_session(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await greeted(simulator, session)
        simulator.faults.refuse_handshakes(1, status=503)
        simulator.faults.drop_sockets(cid)
        await simulator.agent_end(cid)
        events = await collect_until(session, lambda e: isinstance(e, ConversationEnded))
        assert isinstance(events[-1], ConversationEnded)
