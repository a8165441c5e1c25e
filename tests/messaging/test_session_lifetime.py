"""MessagingSession's lifetime: cancelling a send or a consumer leaves nothing behind and
loses nothing; closing fails what is pending; nothing outlives the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from wm_session_support import client_tasks, collect_until, fast_options, is_text, start

from webchat_async import ConversationEnded, MessageReceived, SessionClosedError
from webchat_async.simulator import Agent, Simulator


@pytest.fixture
async def quiet() -> AsyncIterator[Simulator]:
    async with Simulator(agent=Agent(greeting=None), heartbeat_interval=None) as sim:
        yield sim


async def test_a_cancelled_send_leaves_nothing_behind(quiet: Simulator) -> None:
    async with start(quiet) as session:
        await session.send_message("first")
        sending = asyncio.create_task(session.send_message("cancelled"))
        await asyncio.sleep(0)  # it is queued in the core
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        assert session._sends == {}
        # A send already queued still goes, once, in its turn; the next comes after it.
        await session.send_message("next")
        texts = [m.text async for m in session.history()]
        assert texts == ["next", "cancelled", "first"]
    assert not client_tasks()


async def test_a_send_cancelled_while_it_waits_its_turn_is_never_sent(quiet: Simulator) -> None:
    async with start(quiet) as session:
        await session.send_message("first")
        # One send at a time: "second" is on the wire, "withdrawn" waits behind it.
        second = asyncio.create_task(session.send_message("second"))
        withdrawn = asyncio.create_task(session.send_message("withdrawn"))
        await asyncio.sleep(0)
        withdrawn.cancel()
        with pytest.raises(asyncio.CancelledError):
            await withdrawn
        await second
        await session.send_message("third")
        texts = [m.text async for m in session.history()]
        assert texts == ["third", "second", "first"]
        assert session._sends == {}
    assert not client_tasks()


async def test_a_cancelled_consumer_loses_no_event(quiet: Simulator) -> None:
    async with start(quiet) as session:
        await session.send_message("hi")
        conversation_id = quiet.messaging_conversation_id(session.token)
        await quiet.wait_routed(conversation_id)
        await collect_until(session, is_text("hi"))

        async def first() -> object:
            async for event in session.events():
                return event
            return None

        consumer = asyncio.create_task(first())
        await asyncio.sleep(0)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert not session._waiters  # the cancelled wait left nothing behind
        await quiet.agent_say(conversation_id, "still here")
        events = await collect_until(session, is_text("still here"))
        assert [e.text for e in events if isinstance(e, MessageReceived)] == ["still here"]
    assert not client_tasks()


async def test_closing_fails_pending_sends_and_stops_everything(quiet: Simulator) -> None:
    quiet.faults.messaging_rate_limit(None)
    session = await start(quiet)
    await session.send_message("hi")
    await quiet.wait_sockets(quiet.messaging_conversation_id(session.token), 1)
    quiet.faults.hang_sockets()  # no echo will come
    sending = asyncio.create_task(session.send_message("never acknowledged"))
    await asyncio.sleep(0.05)
    assert not sending.done()
    await session.aclose()
    with pytest.raises(SessionClosedError):
        await sending
    assert not client_tasks()
    with pytest.raises(SessionClosedError):
        await session.send_typing()
    # What was queued is still there to read, ending with the end.
    assert isinstance([e async for e in session.events()][-1], ConversationEnded)


def _repeaters() -> list[asyncio.Task[object]]:
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and t.get_coro().__qualname__.endswith("._repeat_typing")  # type: ignore[union-attr]
    ]


async def test_typing_repeats_inside_the_block_and_stops_after(quiet: Simulator) -> None:
    async with start(quiet) as session:
        async with session.typing(interval=0.01):
            assert len(_repeaters()) == 1
        assert _repeaters() == []
        with pytest.raises(ValueError):
            async with session.typing(interval=0):
                pass
    assert not client_tasks()


async def test_an_error_in_the_reader_reaches_the_callers(
    quiet: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webchat_async.messaging._session as driver

    session = await start(quiet)
    await session.send_message("hi")

    def broken(text: str | bytes) -> object:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(driver, "decode_frame", broken)
    sending = asyncio.create_task(session.send_message("lost?"))
    with pytest.raises(RuntimeError, match="decoder bug"):
        async for _ in session.events():
            pass
    with pytest.raises(RuntimeError, match="decoder bug"):
        await sending
    with pytest.raises(RuntimeError, match="decoder bug"):
        await session.send_typing()
    assert not client_tasks()
    await session.aclose()  # seen already: not raised again


async def test_an_unseen_reader_error_is_raised_by_aclose(
    quiet: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webchat_async.messaging._session as driver

    session = await start(quiet)

    def broken(text: str | bytes) -> object:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(driver, "decode_frame", broken)
    await quiet.faults.send_raw("{}", quiet.messaging_conversation_id(session.token))
    # The session's reader stops on the frame; nobody is iterating.
    assert session._reader is not None
    await asyncio.wait_for(asyncio.wait({session._reader}), 5)
    with pytest.raises(RuntimeError, match="decoder bug"):
        await session.aclose()


async def test_sends_complete_without_a_consumer_past_the_queue_size(quiet: Simulator) -> None:
    quiet.faults.messaging_rate_limit(None)
    # No reorder window: each echo is queued for the consumer as soon as it is read.
    options = fast_options(rate_count=100, rate_period=0.01, reorder_window=0.0)
    async with start(quiet, options=options, queue_size=4) as session:
        # Each echo is an event nobody takes: past 4 the socket would no longer be read
        # and the next echo never seen.
        for n in range(7):
            await asyncio.wait_for(session.send_message(f"m{n}"), 5)
        assert session._core.queued() == 7
        events = [await session._next_event() for _ in range(7)]
        assert [e.text for e in events if isinstance(e, MessageReceived)] == [
            f"m{n}" for n in range(7)
        ]


async def test_a_send_queued_while_a_frame_is_written_goes_at_once(
    quiet: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webchat_async.messaging._session import MessagingSession

    gate = asyncio.Event()
    writing = asyncio.Event()
    original = MessagingSession._send_frame

    async def send_frame(self: MessagingSession, text: str) -> None:
        if '"eventType":"Typing"' in text:
            writing.set()
            await gate.wait()  # the reader is busy writing this frame
        await original(self, text)

    async with start(quiet) as session:
        assert [m async for m in session.history()] == []  # the JWT is in: all quiet now
        monkeypatch.setattr(MessagingSession, "_send_frame", send_frame)
        typing = asyncio.create_task(session.send_typing())
        await writing.wait()
        sending = asyncio.create_task(session.send_message("meanwhile"))
        await asyncio.sleep(0)  # queued in the core, its frame an output to carry out
        gate.set()
        await typing
        # Nothing else will wake the reader (a quiet agent, no deadline for 30 s).
        echo = await asyncio.wait_for(sending, 2)
        assert echo.text == "meanwhile"


async def test_a_start_cancelled_while_connecting_leaves_nothing_behind(quiet: Simulator) -> None:
    from webchat_async._backoff import Backoff

    quiet.faults.refuse_handshakes(1000, 503)  # never a socket: start keeps trying
    options = fast_options(backoff=Backoff(initial=0.01, maximum=0.02, jitter=0.0))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(start(quiet, options=options), 0.3)
    assert not client_tasks()
    quiet.faults.refuse_handshakes(0)
    async with start(quiet, options=options) as session:  # and the next one works
        await session.send_message("hi")


async def test_no_socket_within_the_reconnect_window_fails_the_start(quiet: Simulator) -> None:
    from webchat_async import StreamError
    from webchat_async._backoff import Backoff

    quiet.faults.refuse_handshakes(1000, 503)
    options = fast_options(
        backoff=Backoff(initial=0.01, maximum=0.02, jitter=0.0), max_reconnect_window=0.2
    )
    with pytest.raises(StreamError):
        await asyncio.wait_for(start(quiet, options=options), 5)
    assert not client_tasks()
