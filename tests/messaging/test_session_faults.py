"""MessagingSession under the simulator's faults: reorder, drops without replay, a drop
after storing but before the echo, and the rate limit with 4029 retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from wm_session_support import (
    agent_texts,
    client_tasks,
    collect_until,
    distinct_times,
    fast_options,
    is_text,
    of_type,
    start,
)

from webchat_async import Event, MessageReceived, StreamDisconnected, StreamReconnected
from webchat_async._backoff import Backoff
from webchat_async.messaging import MessagingSession
from webchat_async.messaging._sends import RateLimit
from webchat_async.simulator import Agent, Simulator
from webchat_async.simulator._messaging_state import WmSession


@pytest.fixture
async def quiet() -> AsyncIterator[Simulator]:
    """A simulator whose agent neither greets nor answers: every push is the test's."""
    async with Simulator(agent=Agent(greeting=None), heartbeat_interval=None) as sim:
        distinct_times(sim)
        yield sim


async def routed(sim: Simulator, session: MessagingSession) -> str:
    """Start the conversation (a first message) and return its id once the agent joined."""
    await session.send_message("hi")
    conversation_id = sim.messaging_conversation_id(session.token)
    await sim.wait_routed(conversation_id)
    await collect_until(session, is_text("hi"))
    return conversation_id


async def test_reordered_pushes_come_out_in_time_order_once(quiet: Simulator) -> None:
    async with start(quiet) as session:
        conversation_id = await routed(quiet, session)
        quiet.faults.reorder_next_events(5)
        for n in range(5):
            await quiet.agent_say(conversation_id, f"m{n}")
        quiet.faults.duplicate_next_events(1)
        await quiet.agent_say(conversation_id, "m5")
        events = await collect_until(session, is_text("m5"))
        await quiet.agent_say(conversation_id, "last")
        events += await collect_until(session, is_text("last"))
        assert agent_texts(events) == ["m0", "m1", "m2", "m3", "m4", "m5", "last"]


async def test_a_drop_yields_the_missed_messages_between_the_markers(quiet: Simulator) -> None:
    options = fast_options(backoff=Backoff(initial=0.02, maximum=0.05, jitter=0.0))
    async with start(quiet, options=options) as session:
        conversation_id = await routed(quiet, session)
        await quiet.agent_say(conversation_id, "before")
        await collect_until(session, is_text("before"))
        # No socket for the session while the agent speaks: nothing is replayed on the
        # next one, only the history has these.
        quiet.faults.refuse_handshakes(1000, 503)
        assert quiet.faults.drop_sockets(conversation_id) == 1
        await quiet.wait_sockets(conversation_id, 0)
        await quiet.agent_say(conversation_id, "missed 1")
        await quiet.agent_say(conversation_id, "missed 2")
        quiet.faults.refuse_handshakes(0)
        events = await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        assert isinstance(events[0], StreamDisconnected)
        assert agent_texts(events) == ["missed 1", "missed 2"]
        assert [type(e) for e in events] == [
            StreamDisconnected,
            MessageReceived,
            MessageReceived,
            StreamReconnected,
        ]
        reconnected = events[-1]
        assert isinstance(reconnected, StreamReconnected) and reconnected.backfilled == 2
        await quiet.agent_say(conversation_id, "after")
        later = await collect_until(session, is_text("after"))
        assert agent_texts(later) == ["after"]


async def test_a_send_dropped_before_its_echo_is_not_doubled(quiet: Simulator) -> None:
    async with start(quiet) as session:
        await routed(quiet, session)
        quiet.faults.drop_before_echo()
        echo = await asyncio.wait_for(session.send_message("did it arrive?"), 10)
        assert echo.text == "did it arrive?"
        events = await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        guest = [e.text for e in of_type(events, MessageReceived) if e.from_guest]
        assert guest == ["did it arrive?"]
        await session.send_message("and this one")
        texts = [m.text async for m in session.history()]
        assert texts.count("did it arrive?") == 1
        assert texts[:2] == ["and this one", "did it arrive?"]


class _Wire:
    """What the simulator's rate limit saw: loop times of accepted ``onMessage``, refusals."""

    def __init__(self) -> None:
        self.accepted: list[float] = []
        self.refused: list[float] = []


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> _Wire:
    seen = _Wire()
    original = WmSession.allow_send

    def allow_send(self: WmSession, now: float, per_second: int | None) -> bool:
        ok = original(self, now, per_second)
        (seen.accepted if ok else seen.refused).append(now)
        return ok

    monkeypatch.setattr(WmSession, "allow_send", allow_send)
    return seen


async def _fifty(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, **start_kwargs: Any
) -> tuple[list[str], list[str], list[float]]:
    """50 sends started at once: the texts in call order, as stored (oldest first), and
    the core's time of each ``onMessage`` it sent (what its rate limit recorded)."""
    sent: list[float] = []
    original = RateLimit.record

    def record(self: RateLimit, now: float) -> None:
        sent.append(now)
        original(self, now)

    monkeypatch.setattr(RateLimit, "record", record)
    async with start(sim, **start_kwargs) as session:
        texts = [f"m{n:02d}" for n in range(50)]
        echoes = await asyncio.wait_for(
            asyncio.gather(*(session.send_message(t) for t in texts)), 60
        )
        assert [e.text for e in echoes] == texts
        stored = [m.text async for m in session.history() if m.from_guest]
    assert not client_tasks()
    return texts, [t for t in reversed(stored) if t is not None], sent


async def test_fifty_sends_stay_under_the_limit(
    quiet: Simulator, wire: _Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service's 2 per second, scaled 50 times on both sides so the test takes 0.5 s:
    # the simulator takes 100 per second, the core sends 2 per 20 ms.
    quiet.faults.messaging_rate_limit(100, retry_after=1)
    options = fast_options(rate_count=2, rate_period=0.02)
    texts, stored, sent = await _fifty(quiet, monkeypatch, options=options)
    assert stored == texts  # each once, in call order
    assert len(wire.accepted) == 50 and not wire.refused
    # The core's sliding window, on its own clock: no 20 ms holds more than 2 frames.
    assert len(sent) == 50
    assert min(b - a for a, b in zip(sent, sent[2:], strict=False)) >= 0.02


async def test_fifty_sends_through_4029_refusals(
    quiet: Simulator, wire: _Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client faster than the service (40 per second against 20): the service refuses
    # with 4029 and retryAfter 1 s; each refused send goes again after it, in order.
    quiet.faults.messaging_rate_limit(20, retry_after=1)
    options = fast_options(rate_count=4, rate_period=0.1)
    texts, stored, sent = await _fifty(quiet, monkeypatch, options=options)
    assert stored == texts
    assert len(wire.accepted) == 50
    assert wire.refused, "the simulator never refused: the test proves nothing"
    assert len(sent) == 50 + len(wire.refused)  # each refused send went once more
    for refused_at in wire.refused:
        # Nothing goes for retryAfter after a refusal (the simulator stamps on arrival).
        assert not [t for t in wire.accepted if refused_at < t < refused_at + 0.95]


async def test_many_messages_over_drops_and_reorders_exactly_once_in_order(
    quiet: Simulator,
) -> None:
    options = fast_options(backoff=Backoff(initial=0.01, maximum=0.02, jitter=0.0))
    async with start(quiet, options=options) as session:
        conversation_id = await routed(quiet, session)
        expected: list[str] = []
        events: list[Event] = []
        for round_ in range(8):
            # Pushed out of order, one of them twice.
            quiet.faults.reorder_next_events(3)
            quiet.faults.duplicate_next_events(1)
            for n in range(3):
                expected.append(f"r{round_}-live{n}")
                await quiet.agent_say(conversation_id, expected[-1])
            # Then said while the session has no socket: only the history has them.
            quiet.faults.refuse_handshakes(1000, 503)
            quiet.faults.drop_sockets(conversation_id)
            await quiet.wait_sockets(conversation_id, 0)
            for n in range(3):
                expected.append(f"r{round_}-away{n}")
                await quiet.agent_say(conversation_id, expected[-1])
            quiet.faults.refuse_handshakes(0)
            events += await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        await quiet.agent_say(conversation_id, "done")
        events += await collect_until(session, is_text("done"))
        assert agent_texts(events) == [*expected, "done"]
        markers = [e for e in events if isinstance(e, (StreamDisconnected, StreamReconnected))]
        assert [type(e) for e in markers] == [StreamDisconnected, StreamReconnected] * 8
        assert all(e.backfilled == 3 for e in markers if isinstance(e, StreamReconnected))
