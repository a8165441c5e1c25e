"""A consumer that stays away never stalls the socket, and the inbox stays bounded."""

from __future__ import annotations

import pytest
from session_support import GREETING, collect_until, is_text, start, texts, until_settled

from webchat_async import (
    ConversationEnded,
    MessageReceived,
    Retry,
    StreamDisconnected,
    StreamError,
    StreamReconnected,
    WebChatApi,
)
from webchat_async.simulator import Simulator

QUEUE = 4


async def test_reattach_happens_while_the_consumer_is_away(simulator: Simulator) -> None:
    async with start(simulator, queue_size=QUEUE) as session:
        cid = session.conversation_id
        await collect_until(session, is_text(GREETING))
        agent = simulator.state.conversations[cid].agent_member_id
        for i in range(40):
            await simulator.agent_say(cid, f"m{i}")
        # Nobody reads, yet the reader keeps reading the socket: a drop is noticed and the
        # stream reattaches now (a reader blocked on a full inbox could not).
        simulator.faults.drop_sockets(cid)
        await simulator.wait_attachments(cid, 2)
        await simulator.agent_say(cid, "after")
        # (The outbox's bound is a property of the pure core: tests/session/test_inbound_core.py.)
        events = await collect_until(session, is_text("after"))
    assert texts(events, agent) == [f"m{i}" for i in range(40)] + ["after"]


async def test_a_backfill_outage_is_retried_not_fatal(simulator: Simulator) -> None:
    api = WebChatApi(base_url=simulator.base_url, retry=Retry(backoff_factor=0, jitter=0))
    async with api, start(simulator, api=api) as session:
        cid = session.conversation_id
        # Past the agent's join, so no member lookup is left to take a 503.
        await until_settled(session)
        # Each backfill attempt makes 1 + 3 requests (the API's retries): twelve 503s
        # fail three whole attempts, and the fourth gets through.
        simulator.faults.server_errors(n=12, status=503)
        simulator.faults.drop_sockets(cid)
        await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        base = f"/api/v2/webchat/guest/conversations/{cid}"
        # The members are re-read beside the backfill after a reattach: the 503s are shared.
        failed = sum(
            simulator.state.count_requests("GET", base + path, 503)
            for path in ("/messages", "/members")
        )
        assert failed == 12
        assert simulator.state.count_requests("GET", base + "/messages", 503) >= 4
        await simulator.agent_say(cid, "still here")
        await collect_until(session, is_text("still here"))
        assert not simulator.state.conversations[cid].ended
    assert simulator.state.conversations[cid].ended  # left on exit


async def test_a_backfill_failing_past_the_window_stops_with_stream_error(
    simulator: Simulator,
) -> None:
    api = WebChatApi(base_url=simulator.base_url, retry=Retry(backoff_factor=0, jitter=0))
    async with api:
        with pytest.raises(StreamError, match="missed messages"):
            async with start(simulator, api=api, max_reconnect_window=0.0) as session:
                cid = session.conversation_id
                await collect_until(session, is_text(GREETING))
                simulator.faults.server_errors(status=503)  # until cleared
                simulator.faults.drop_sockets(cid)
                async for _ in session.events():
                    pass
                simulator.faults.clear()


async def test_leaving_a_chat_the_agent_just_ended_is_not_an_error(simulator: Simulator) -> None:
    refused = 0
    for _ in range(5):
        async with start(simulator) as session:
            await collect_until(session, is_text(GREETING))
            # The block ends before the reader has seen the guest's DISCONNECTED, so
            # __aexit__ still leaves: the service answers "already ended", which is fine.
            await simulator.agent_end(session.conversation_id)
        conversation = simulator.state.conversations[session.conversation_id]
        member = f"/api/v2/webchat/guest/conversations/{conversation.id}/members/"
        # The simulator answers 404 (the member has left), as the service does.
        refused += simulator.state.count_requests(
            "DELETE", member + conversation.guest_member_id, 404
        )
    assert refused >= 1  # the race this test is about did happen


async def test_messages_held_in_a_gap_survive_the_end_of_the_chat(simulator: Simulator) -> None:
    async with start(simulator, queue_size=QUEUE) as session:
        cid = session.conversation_id
        await until_settled(session)
        agent = simulator.state.conversations[cid].agent_member_id
        for i in range(10):
            await simulator.agent_say(cid, f"m{i}")
        await simulator.agent_say(cid, "goodbye")
        # The agent ends the chat while the consumer is behind: the messages endpoint
        # refuses from now on, so the frames held aside are the only copy.
        await simulator.agent_end(cid)
        await simulator.wait_ended(cid)
        events = await collect_until(session, lambda e: isinstance(e, ConversationEnded))
    assert texts(events, agent) == [f"m{i}" for i in range(10)] + ["goodbye"]
    kinds = [type(e).__name__ for e in events]
    # The agent's departure comes after everything it said.
    assert kinds.index("MemberLeft") > max(
        i
        for i, e in enumerate(events)
        if isinstance(e, MessageReceived) and e.message.body == "goodbye"
    )


async def test_events_held_in_a_gap_keep_their_place_among_messages(
    simulator: Simulator,
) -> None:
    async with start(simulator, queue_size=QUEUE) as session:
        cid = session.conversation_id
        await until_settled(session)
        agent = simulator.state.conversations[cid].agent_member_id
        for i in range(6):
            await simulator.agent_say(cid, f"before{i}")
        simulator.faults.drop_sockets(cid)
        await simulator.wait_attachments(cid, 2)
        for i in range(4):
            await simulator.agent_say(cid, f"after{i}")
        events = await collect_until(session, is_text("after3"))
    kinds = [type(e) for e in events]
    # Both stream events come through, in order, and before the messages sent only after
    # the reattach; messages missed while detached may land on either side of them.
    assert kinds.count(StreamDisconnected) == kinds.count(StreamReconnected) == 1
    disconnected = kinds.index(StreamDisconnected)
    assert disconnected < kinds.index(StreamReconnected)
    assert all(
        disconnected > i
        for i, e in enumerate(events)
        if isinstance(e, MessageReceived) and e.message.body in {"before0", "before1"}
    )
    assert texts(events, agent) == [f"before{i}" for i in range(6)] + [
        f"after{i}" for i in range(4)
    ]


async def test_the_socket_is_reattached_while_a_backfill_keeps_failing(
    simulator: Simulator,
) -> None:
    api = WebChatApi(base_url=simulator.base_url, retry=Retry(backoff_factor=0, jitter=0))
    async with api, start(simulator, api=api, queue_size=QUEUE) as session:
        cid = session.conversation_id
        await until_settled(session)
        agent = simulator.state.conversations[cid].agent_member_id
        for i in range(10):
            await simulator.agent_say(cid, f"m{i}")
        simulator.faults.server_errors(status=503)  # every REST call fails from now on
        simulator.faults.drop_sockets(cid)
        # The backfill keeps failing; meanwhile the stream must still be reattached, whatever
        # the consumer does (it waits for that state, not for a scheduling step).
        await simulator.wait_attachments(cid, 2)
        simulator.faults.clear()
        await simulator.agent_say(cid, "back")
        events = await collect_until(session, is_text("back"))
    assert texts(events, agent) == [f"m{i}" for i in range(10)] + ["back"]
