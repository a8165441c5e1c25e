"""Leaving, the agent ending the chat, media requests, grace removal, custom agents, tokens."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets
from sim_wire import create, kind, routed
from test_sim_rest_errors import assert_error

from webchat_async.models import WebChatMessage
from webchat_async.simulator import Agent, ConversationView, Simulator


async def test_guest_leaves(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    response = await http.delete(f"{guest.path}/members/{guest.member_id}", headers=guest.auth)
    assert response.status_code == 204
    change = await stream.next()
    assert kind(change) == "member-change"
    assert change["eventBody"]["member"] == {"id": guest.member_id, "state": "DISCONNECTED"}
    leave = await stream.next()
    assert leave["eventBody"]["bodyType"] == "member-leave"
    assert leave["eventBody"]["sender"] == {"id": guest.member_id}
    with pytest.raises(websockets.ConnectionClosedOK) as closed:
        await stream.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert simulator.state.conversations[guest.id].ended
    await simulator.wait_ended(guest.id)
    assert_error(await guest.send("still there?"), 400, "chat.error.conversation.state")
    assert_error(await guest.get("/messages"), 400, "chat.error.conversation.state")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await guest.connect()
    assert refused.value.response.status_code == 400


async def test_agent_ends_the_chat(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    agent_id = simulator.state.conversations[guest.id].agent_member_id
    await simulator.agent_end(guest.id)
    frames = [await stream.next() for _ in range(3)]
    assert frames[0]["eventBody"]["member"] == {"id": agent_id, "state": "DISCONNECTED"}
    assert frames[1]["eventBody"]["bodyType"] == "member-leave"
    assert frames[1]["eventBody"]["sender"] == {"id": agent_id}
    assert frames[2]["eventBody"]["member"] == {"id": guest.member_id, "state": "DISCONNECTED"}
    with pytest.raises(websockets.ConnectionClosedOK) as closed:
        await stream.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    members = simulator.state.conversations[guest.id].members
    assert {str(m.state) for m in members.values()} == {"DISCONNECTED"}
    with pytest.raises(RuntimeError):
        await simulator.agent_say(guest.id, "too late")


async def test_media_request(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    media = await simulator.agent_request_media(guest.id, types=["COBROWSE"])
    announce = await stream.message("media-request")
    assert announce["body"] == media.id
    listing = (await guest.get("/mediarequests")).json()
    assert [m["id"] for m in listing["entities"]] == [media.id]
    fetched = (await guest.get(f"/mediarequests/{media.id}")).json()
    assert fetched["state"] == "PENDING" and fetched["types"] == ["COBROWSE"]
    path = f"{guest.path}/mediarequests/{media.id}"
    bad = await http.patch(path, json={"state": "PENDING"}, headers=guest.auth)
    assert_error(bad, 400, "invalid.value", "state")
    assert_error(await http.patch(path, headers=guest.auth), 400, "invalid.value", "body")
    accepted = await http.patch(path, json={**fetched, "state": "ACCEPTED"}, headers=guest.auth)
    assert accepted.status_code == 200 and accepted.json()["state"] == "ACCEPTED"
    twice = await http.patch(path, json={"state": "DECLINED"}, headers=guest.auth)
    assert_error(twice, 409, "conflict")
    assert str(simulator.state.conversations[guest.id].media_requests[media.id].state) == "ACCEPTED"
    await stream.close()


async def test_guest_removed_after_the_reconnect_grace() -> None:
    # The grace also runs from the create until the first attach: long enough for that.
    async with Simulator(heartbeat_interval=None, reconnect_grace=0.5) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            guest, stream = await routed(http, sim)
            assert sim.faults.drop_sockets(guest.id) == 1
            await sim.wait_ended(guest.id)
            conversation = sim.state.conversations[guest.id]
            guest_member = conversation.members[guest.member_id]
            assert str(guest_member.state) == "DISCONNECTED"
            assert conversation.messages[-1].body_type == "member-leave"
            assert_error(await guest.send("hi"), 400, "chat.error.conversation.state")
            with pytest.raises(websockets.ConnectionClosedError):
                await stream.next()


async def test_reconnecting_within_the_grace_keeps_the_guest() -> None:
    async with Simulator(heartbeat_interval=None, reconnect_grace=60) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            guest, stream = await routed(http, sim)
            await stream.close()
            await sim.wait_sockets(guest.id, 0)
            again = await guest.connect()
            await sim.wait_sockets(guest.id, 1)
            assert (await guest.send("back")).status_code == 200
            assert (await again.message("standard", "You said: back"))["body"]
            assert not sim.state.conversations[guest.id].ended
            await again.close()


async def test_routing_delay_and_custom_agent() -> None:
    seen: list[tuple[str, str | None]] = []

    async def reply(conversation: ConversationView, message: WebChatMessage) -> str | None:
        seen.append((conversation.id, message.body))
        return None if message.body == "quiet" else f"{len(conversation.messages)} so far"

    agent = Agent(name="Kim", greeting=None, typing_delay=0.01, reply=reply)
    async with Simulator(agent=agent, heartbeat_interval=None, routing_delay=0.01) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            guest = await create(http, sim)
            stream = await guest.connect()
            assert not sim.state.conversations[guest.id].routed
            await sim.wait_routed(guest.id)
            join = await stream.message("member-join")
            agent_id = join["sender"]["id"]
            assert sim.state.conversations[guest.id].members[agent_id].display_name == "Kim"
            await guest.send("quiet")
            await guest.send("loud")
            reply_frame = await stream.message("standard", "3 so far")
            assert reply_frame["sender"] == {"id": agent_id}
            kinds = [kind(f) for f in stream.seen]
            # No greeting; "quiet" got no typing indicator, "loud" got one before its reply.
            assert kinds.count("typing-indicator") == 1
            assert seen == [(guest.id, "quiet"), (guest.id, "loud")]
            await stream.close()


async def test_an_agent_error_surfaces_when_the_simulator_stops() -> None:
    async def reply(conversation: ConversationView, message: WebChatMessage) -> str | None:
        raise ValueError("bot bug")

    sim = Simulator(agent=Agent(reply=reply), heartbeat_interval=None)
    await sim.start()
    try:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            guest, stream = await routed(http, sim)
            await guest.send("boom")
            await stream.close()
            await sim.wait_sockets(guest.id, 0)
            # The failed agent turn leaves the conversation working.
            assert (await guest.get("/messages")).status_code == 200
    finally:
        with pytest.raises(ValueError, match="bot bug"):
            await sim.stop()


async def test_guest_token_expiry_uses_the_injected_clock() -> None:
    now = [1_000_000.0]
    async with Simulator(heartbeat_interval=None, guest_token_ttl=60, clock=lambda: now[0]) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            guest = await create(http, sim)
            assert (await guest.get("/members")).status_code == 200
            token = sim.issue_access_token()
            now[0] += 61
            assert_error(await guest.get("/members"), 401, "bad.credentials")
            with pytest.raises(websockets.InvalidStatus) as refused:
                await guest.connect()
            assert refused.value.response.status_code == 401
            # Access tokens live an hour.
            ok = await http.get(
                "/api/v2/webchat/settings", headers={"Authorization": f"Bearer {token}"}
            )
            assert ok.status_code == 200
            now[0] += 3600
            expired = await http.get(
                "/api/v2/webchat/settings", headers={"Authorization": f"Bearer {token}"}
            )
            assert_error(expired, 401, "bad.credentials")


async def test_stop_closes_open_sockets_with_1001() -> None:
    sim = Simulator(heartbeat_interval=None)
    await sim.start()
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        _guest, stream = await routed(http, sim)
        await asyncio.wait_for(sim.stop(), 5)
        # A planned close is announced first (docs/protocol.md#the-event-stream).
        assert await stream.next() == {"topicName": "v2.system.socket_closing", "eventBody": {}}
        with pytest.raises(websockets.ConnectionClosedOK) as closed:
            await stream.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


async def test_wait_requests_returns_once_the_requests_were_answered(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, _stream = await routed(http, simulator)
    typing = f"{guest.path}/members/{guest.member_id}/typing"
    waiter = asyncio.ensure_future(simulator.wait_requests("POST", typing, 2))
    await http.post(typing, headers=guest.auth)
    await asyncio.sleep(0)
    assert not waiter.done()  # one of two
    await http.post(typing, headers=guest.auth)
    await asyncio.wait_for(waiter, 5)
    assert simulator.state.count_requests("POST", typing) == 2
    # Already there: returns; a count never reached times out.
    await simulator.wait_requests("POST", typing, 2)
    with pytest.raises(asyncio.TimeoutError):
        await simulator.wait_requests("POST", typing, 3, timeout=0.01)
