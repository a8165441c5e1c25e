"""Where a backfill starts: a few messages back (the core's REWIND, tested in
test_inbound_core.py), and never at an id the service refuses."""

from __future__ import annotations

import json

import attrs
import pytest
from session_support import GREETING, collect_until, is_text, start, texts

from webchat_async._inbound import REWIND
from webchat_async.simulator import Simulator
from webchat_async.simulator._stream import message_frame


async def test_swapped_frames_then_a_drop_lose_nothing(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await collect_until(session, is_text(GREETING))
        conversation = simulator.state.conversations[cid]
        agent = conversation.agent_member_id
        assert agent is not None
        # The server stores m6 then m7 but the frames arrive swapped, and the socket drops
        # after m7's frame, before m6's: m6 exists only in the messages endpoint, *before*
        # the last message delivered.
        conversation.add_message(agent, "m6")
        m7 = conversation.add_message(agent, "m7")
        assert await simulator.faults.send_raw(message_frame(cid, m7), cid) == 1
        await collect_until(session, is_text("m7"))
        simulator.faults.drop_sockets(cid)
        await simulator.agent_say(cid, "m8")
        events = await collect_until(session, is_text("m8"))
    assert texts(events, agent) == ["m6", "m8"]


async def test_a_bogus_message_id_does_not_end_the_session(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await collect_until(session, is_text(GREETING))
        conversation = simulator.state.conversations[cid]
        agent = conversation.agent_member_id
        assert agent is not None
        # A frame whose id the messages endpoint does not know becomes the newest
        # delivered message; the next backfill must not get stuck on it.
        bogus = attrs.evolve(conversation.add_message(agent, "real"), id="not-a-stored-id")
        frame = json.loads(message_frame(cid, bogus))
        frame["eventBody"]["body"] = "bogus"
        for i in range(REWIND):  # push the good ids out of the cursor's reach
            frame["eventBody"]["id"] = f"bogus-{i}"
            assert await simulator.faults.send_raw(json.dumps(frame), cid) == 1
        before = await collect_until(session, lambda e: _is_last(e, REWIND))
        simulator.faults.drop_sockets(cid)
        await simulator.agent_say(cid, "after the drop")
        after = await collect_until(session, is_text("after the drop"))
    assert texts(before, agent) == ["bogus"] * REWIND
    # Every bogus cursor was refused in turn, then the backfill read from the start: the
    # message never published arrives, and nothing delivered before comes again.
    assert texts(after, agent) == ["real", "after the drop"]


def _is_last(event: object, count: int) -> bool:
    message = getattr(event, "message", None)
    return message is not None and message.id == f"bogus-{count - 1}"


async def test_a_plain_ws_stream_uri_to_a_remote_host_is_refused(simulator: Simulator) -> None:
    from webchat_async.api import WebChatApi
    from webchat_async.session import GuestSession, SavedSession

    saved = SavedSession(
        conversation_id="c",
        member_id="m",
        jwt="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        event_stream_uri="ws://chat.example.com/chat/jwt/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        last_message_id=None,
        base_url=simulator.base_url,
    )
    with pytest.raises(ValueError, match=r"non-loopback host 'chat\.example\.com'") as refused:
        await GuestSession.resume(saved)
    assert "eyJ" not in str(refused.value)
    # Opting in on the API allows it (the connection then fails: nobody is there).
    async with WebChatApi(base_url=simulator.base_url, allow_insecure_http=True) as api:
        assert api.with_options(guest_token="t").allow_insecure_http
