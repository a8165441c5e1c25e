"""A consumer that stays away never stalls the socket, and the inbox stays bounded."""

from __future__ import annotations

import pytest
from session_support import GREETING, collect_until, is_text, start, texts

from webchat_async import MemberJoined, Retry, StreamError, StreamReconnected, WebChatApi
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
        # The inbox stays within its bound, plus the few events that are always queued
        # (here StreamDisconnected and StreamReconnected).
        assert session._feed._inbox.qsize() <= QUEUE + 2
        events = await collect_until(session, is_text("after"))
    assert texts(events, agent) == [f"m{i}" for i in range(40)] + ["after"]


async def test_a_backfill_outage_is_retried_not_fatal(simulator: Simulator) -> None:
    api = WebChatApi(base_url=simulator.base_url, retry=Retry(backoff_factor=0, jitter=0))
    async with api, start(simulator, api=api) as session:
        cid = session.conversation_id
        # Past the agent's join, so no member lookup is left to take a 503.
        await collect_until(session, lambda e: isinstance(e, MemberJoined))
        # Each backfill attempt makes 1 + 3 requests (the API's retries): twelve 503s
        # fail three whole attempts, and the fourth gets through.
        simulator.faults.server_errors(n=12, status=503)
        simulator.faults.drop_sockets(cid)
        await collect_until(session, lambda e: isinstance(e, StreamReconnected))
        messages = f"/api/v2/webchat/guest/conversations/{cid}/messages"
        assert simulator.state.count_requests("GET", messages, 503) == 12
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
        refused += simulator.state.count_requests(
            "DELETE", member + conversation.guest_member_id, 400
        )
    assert refused >= 1  # the race this test is about did happen
