"""The issue-10 findings, end to end on the simulator: each of these failed on eec547b.

Where the simulator plays the service faithfully, an odd answer is made by rewriting the
JSON it writes (its ``unstructure``), so the SDK meets exactly what a service would send.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from session_support import collect_until, is_text, start, until_settled

import webchat_async.simulator._routes as sim_routes
from webchat_async import (
    Backoff,
    ConversationEnded,
    MemberJoined,
    MessageReceived,
    StreamDisconnected,
    StreamReconnected,
    UnknownEvent,
)
from webchat_async.simulator import Simulator

Rewrite = Callable[[Any], Any]


@pytest.fixture
def rewrite(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Rewrite], None]]:
    """Install a rewrite of the JSON data the simulator answers with."""
    real = sim_routes.unstructure

    def install(change: Rewrite) -> None:
        monkeypatch.setattr(sim_routes, "unstructure", lambda obj: change(real(obj)))

    yield install


def agent_messages(events: list[Any], agent: str) -> list[str]:
    return [
        e.message.id
        for e in events
        if isinstance(e, MessageReceived)
        and e.message.sender is not None
        and e.message.sender.id == agent
    ]


async def test_fifty_messages_with_a_window_of_eight_are_fifty_events(
    simulator: Simulator,
) -> None:
    # eec547b: 100 MessageReceived (the cursor moved back, whole ranges came again).
    async with start(simulator, dedupe_window=8, queue_size=4) as session:
        cid = session.conversation_id
        await until_settled(session)
        agent = simulator.state.conversations[cid].agent_member_id or ""
        for i in range(50):
            await simulator.agent_say(cid, f"m{i}")
        events = await collect_until(session, is_text("m49"))
        await simulator.agent_say(cid, "last")
        events += await collect_until(session, is_text("last"))
    stored = [m.id for m in simulator.state.conversations[cid].messages if m.sender]
    got = agent_messages(events, agent)
    assert len(got) == 51 and len(set(got)) == 51
    assert got == [i for i in stored if i in set(got)]


async def test_a_member_that_does_not_decode_does_not_end_the_session(
    simulator: Simulator, rewrite: Callable[[Rewrite], None]
) -> None:
    def number_join_date(data: Any) -> Any:
        if isinstance(data, dict) and data.get("role") == "AGENT":
            data["joinDate"] = 1700000000
        return data

    rewrite(number_join_date)
    async with start(simulator) as session:
        cid = session.conversation_id
        events = await until_settled(session)
        assert [e for e in events if isinstance(e, MemberJoined)]
        await simulator.agent_say(cid, "still here")
        await collect_until(session, is_text("still here"))
        assert not session.ended


async def test_a_stored_message_that_does_not_decode_is_reported_and_the_rest_delivered(
    simulator: Simulator, rewrite: Callable[[Rewrite], None]
) -> None:
    def epoch_timestamp(data: Any) -> Any:
        for entity in data.get("entities") or () if isinstance(data, dict) else ():
            if entity.get("body") == "bad":
                entity["timestamp"] = 1700000000
        return data

    async with start(simulator) as session:
        cid = session.conversation_id
        await until_settled(session)
        rewrite(epoch_timestamp)
        simulator.faults.refuse_handshakes(1)
        simulator.faults.drop_sockets(cid)
        await collect_until(session, lambda e: isinstance(e, StreamDisconnected))
        for text in ("before", "bad", "after"):
            await simulator.agent_say(cid, text)
        events = await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        await simulator.agent_say(cid, "live")
        events += await collect_until(session, is_text("live"))
    bodies = [e.message.body for e in events if isinstance(e, MessageReceived)]
    assert bodies == ["before", "after", "live"]
    assert [e for e in events if isinstance(e, UnknownEvent)]


async def test_a_messages_endpoint_repeating_its_page_cannot_make_the_session_loop(
    simulator: Simulator, rewrite: Callable[[Rewrite], None]
) -> None:
    links = itertools.count()

    async with start(simulator) as session:
        cid = session.conversation_id
        await until_settled(session)
        first_page: list[Any] = []

        def same_page(data: Any) -> Any:
            # Every page is the first one, under a new `next` link each time.
            if isinstance(data, dict) and "entities" in data and "pageSize" in data:
                if not first_page:
                    first_page.extend(data["entities"])
                data["entities"] = list(first_page)
                data["next"] = f"/api/v2/webchat/guest/conversations/{cid}/messages?n={next(links)}"
            return data

        for i in range(120):
            await simulator.agent_say(cid, f"m{i}")
        await collect_until(session, is_text("m119"))
        rewrite(same_page)
        simulator.faults.drop_sockets(cid)
        await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        messages = f"/api/v2/webchat/guest/conversations/{cid}/messages"
        assert simulator.state.count_requests("GET", messages) < 20
        # history() follows the links: it stops at the first page that brings nothing new.
        history = [m async for m in session.history()]
        assert len(history) == len(first_page)


async def test_a_full_page_without_next_is_not_the_last(
    simulator: Simulator, rewrite: Callable[[Rewrite], None]
) -> None:
    def no_next(data: Any) -> Any:
        if isinstance(data, dict) and "entities" in data and "pageSize" in data:
            data.pop("next", None)
        return data

    async with start(simulator) as session:
        cid = session.conversation_id
        await until_settled(session)
        agent = simulator.state.conversations[cid].agent_member_id or ""
        rewrite(no_next)
        simulator.faults.refuse_handshakes(1)
        simulator.faults.drop_sockets(cid)
        await collect_until(session, lambda e: isinstance(e, StreamDisconnected))
        for i in range(250):
            await simulator.agent_say(cid, f"m{i}")
        events = await collect_until(session, lambda e: isinstance(e, StreamReconnected))
    got = agent_messages(events, agent)
    assert len(got) == 250
    reconnected = [e for e in events if isinstance(e, StreamReconnected)]
    assert reconnected[0].backfilled == 250


async def test_an_agent_who_joined_while_detached_is_reported() -> None:
    pytest.importorskip("aiohttp")
    # The agent joins a moment after the first attach; the guest is detached by then.
    async with Simulator(port=0, heartbeat_interval=None, routing_delay=0.3) as simulator:
        backoff = Backoff(initial=0.01, maximum=0.02, jitter=0.0)
        async with start(simulator, backoff=backoff) as session:
            cid = session.conversation_id
            simulator.faults.refuse_handshakes(10**6)
            simulator.faults.drop_sockets(cid)
            await simulator.wait_routed(cid)
            simulator.faults.clear()
            events = await collect_until(session, lambda e: isinstance(e, MemberJoined))
    joined = [e for e in events if isinstance(e, MemberJoined)]
    assert joined[0].member.display_name == "Sam"


async def test_a_chat_that_ended_while_detached_says_its_history_may_be_incomplete(
    simulator: Simulator,
) -> None:
    backoff = Backoff(initial=0.01, maximum=0.02, jitter=0.0)
    async with start(simulator, backoff=backoff) as session:
        cid = session.conversation_id
        await until_settled(session)
        simulator.faults.refuse_handshakes(10**6)
        simulator.faults.drop_sockets(cid)
        await collect_until(session, lambda e: isinstance(e, StreamDisconnected))
        await simulator.agent_say(cid, "one last thing")
        await simulator.agent_end(cid)
        await simulator.wait_ended(cid)
        messages = f"/api/v2/webchat/guest/conversations/{cid}/messages"
        before = simulator.state.count_requests("GET", messages)
        simulator.faults.clear()
        events = await collect_until(session, lambda e: isinstance(e, ConversationEnded))
        # The session tried to read what it missed (the simulator refuses reads once the
        # chat is over) and says so on the end.
        assert simulator.state.count_requests("GET", messages, 400) > 0
        assert simulator.state.count_requests("GET", messages) > before
    end = events[-1]
    assert isinstance(end, ConversationEnded) and end.history_complete is False


async def test_no_false_loss_warning_after_a_consumer_caught_up(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    # eec547b: "N messages ... are lost" at the end though every one was delivered.
    async with start(simulator, queue_size=2, dedupe_window=4) as session:
        cid = session.conversation_id
        await until_settled(session)
        for i in range(20):
            await simulator.agent_say(cid, f"m{i}")
        await collect_until(session, is_text("m19"))
        with caplog.at_level(logging.WARNING, logger="webchat_async"):
            await simulator.agent_end(cid)
            events = await collect_until(session, lambda e: isinstance(e, ConversationEnded))
    assert not [r for r in caplog.records if "lost" in r.getMessage()]
    end = events[-1]
    assert isinstance(end, ConversationEnded) and end.history_complete
