"""A server-sent id with a control character: the SDK will not put it in a URL, and the
session goes on.

Ids given by the user are refused where they are given (``InvalidValueError``: header and
request-line injection). The same check meets ids the *server* sends when the session
looks a member up or pages ``after`` a message: before the fix, a member id or a message id
holding ``\\r\\n`` ended ``async for`` with ``InvalidValueError``. Now a lookup of such a
member fails with a warning (as any failed lookup), and such a message id is a cursor the
service does not know (docs/protocol.md: the backfill tries another).
"""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import pytest
from loopback import start_guest

from webchat_async._events import MemberStateChanged, MessageReceived
from webchat_async._inbound import REWIND

pytest.importorskip("aiohttp")

from webchat_async.simulator import Simulator

BAD_ID = "evil\r\nX-Injected: 1"


async def _events_until(session: Any, text: str, timeout: float = 10.0) -> list[Any]:
    seen: list[Any] = []

    async def consume() -> None:
        async for event in session:
            seen.append(event)
            if isinstance(event, MessageReceived) and event.message.body == text:
                return

    await asyncio.wait_for(consume(), timeout)
    return seen


def _message_frame(
    cid: str,
    message_id: str,
    sender_id: str,
    text: str,
    timestamp: str = "2024-05-01T12:00:00.000Z",
) -> str:
    body = {
        "id": message_id,
        "conversation": {"id": cid},
        "sender": {"id": sender_id},
        "body": text,
        "bodyType": "standard",
        "timestamp": timestamp,
    }
    topic = f"v2.conversations.chats.{cid}.messages"
    return json.dumps({"topicName": topic, "eventBody": body, "metadata": {"type": "message"}})


async def test_a_member_id_with_a_control_character_does_not_end_the_session() -> None:
    async with Simulator(port=0, heartbeat_interval=None) as sim:
        async with start_guest(sim, "Ann") as session:
            cid = session.conversation_id
            await sim.wait_routed(cid)
            await sim.agent_say(cid, "first")
            await _events_until(session, "first")
            # A member's state changed: the session looks the member up by that id.
            member = {"member": {"id": BAD_ID, "state": "CONNECTED"}, "conversation": {"id": cid}}
            topic = f"v2.conversations.chats.{cid}.members"
            raw = json.dumps(
                {"topicName": topic, "eventBody": member, "metadata": {"type": "member-change"}}
            )
            assert await sim.faults.send_raw(raw, cid) == 1
            await sim.agent_say(cid, "after")
            events = await _events_until(session, "after")
    changed = [e for e in events if isinstance(e, MemberStateChanged)]
    assert [e.member_id for e in changed] == [BAD_ID]
    bodies = [e.message.body for e in events if isinstance(e, MessageReceived)]
    assert bodies == ["after"]


async def test_a_message_id_with_a_control_character_is_a_cursor_tried_no_more() -> None:
    async with Simulator(port=0, heartbeat_interval=None) as sim:
        async with start_guest(sim, "Ann") as session:
            cid = session.conversation_id
            await sim.wait_routed(cid)
            agent = sim.state.conversations[cid].agent_member_id
            assert agent is not None
            await sim.agent_say(cid, "first")
            first = (await _events_until(session, "first"))[-1]
            assert first.message.timestamp is not None
            # Every cursor the backfill keeps (the last REWIND + 1 deliveries) is a bogus id:
            # the backfill after the drop pages after the oldest of them.
            for n in range(REWIND + 2):
                # Later than "first" in server order (so each becomes a cursor), earlier
                # than what the agent says next.
                at = first.message.timestamp + datetime.timedelta(microseconds=1000 * (n + 1))
                stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                raw = _message_frame(cid, f"{BAD_ID}-{n}", agent, f"bogus id {n}", stamp)
                assert await sim.faults.send_raw(raw, cid) == 1
            await _events_until(session, f"bogus id {REWIND + 1}")
            sim.faults.drop_sockets(cid)
            sim.state.conversations[cid].add_message(agent, "missed")
            events = await _events_until(session, "missed")
            await sim.agent_say(cid, "live again")
            events += await _events_until(session, "live again")
    bodies = [e.message.body for e in events if isinstance(e, MessageReceived)]
    assert bodies == ["missed", "live again"]
