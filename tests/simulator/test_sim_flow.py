"""The core chat flow over real sockets: create, attach, routing, echo, messages."""

from __future__ import annotations

import httpx
from sim_wire import GUEST, create, kind, routed

from webchat_async.simulator import Simulator


async def test_create_returns_ids_jwt_stream_uri_and_guest(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        GUEST,
        json={
            "organizationId": simulator.organization_id,
            "deploymentId": simulator.deployment_id,
            "memberInfo": {"displayName": "Ann", "customFields": {"plan": "gold"}},
        },
    )
    assert response.status_code == 200
    assert response.headers["inin-correlation-id"]
    data = response.json()
    assert (
        data["eventStreamUri"]
        == f"ws://{http.base_url.host}:{http.base_url.port}/chat/jwt/{data['jwt']}"
    )
    header, payload, signature = data["jwt"].split(".")
    assert header.startswith("eyJ") and payload and signature
    # The service may answer the member as {id} only (docs/protocol.md#create).
    assert list(data["member"]) == ["id"]
    member = (
        await http.get(
            f"{GUEST}/{data['id']}/members/{data['member']['id']}",
            headers={"Authorization": f"Bearer {data['jwt']}"},
        )
    ).json()
    assert member["role"] == "CUSTOMER"
    assert member["displayName"] == "Ann"
    assert member["customFields"] == {"plan": "gold"}
    conversation = simulator.state.conversations[data["id"]]
    assert conversation.guest_member_id == member["id"]
    assert not conversation.routed and not conversation.attached


async def test_routing_starts_only_when_the_socket_attaches(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await create(http, simulator)
    members = (await guest.get("/members")).json()
    assert [m["role"] for m in members["entities"]] == ["CUSTOMER"]
    assert not simulator.state.conversations[guest.id].routed

    stream = await guest.connect()
    alerting = await stream.next()
    connected = await stream.next()
    join = await stream.next()
    greeting = await stream.next()
    await simulator.wait_routed(guest.id)
    conversation = simulator.state.conversations[guest.id]
    agent_id = conversation.agent_member_id
    assert agent_id is not None
    for frame, state in ((alerting, "ALERTING"), (connected, "CONNECTED")):
        assert frame["topicName"] == f"v2.conversations.chats.{guest.id}.members"
        assert frame["version"] == "2"
        assert frame["metadata"]["type"] == "member-change"
        assert frame["metadata"]["CorrelationId"]
        assert set(frame["eventBody"]) == {"member", "conversation", "timestamp"}
        assert frame["eventBody"]["member"] == {"id": agent_id, "state": state}
        assert frame["eventBody"]["conversation"] == {"id": guest.id}
    assert join["topicName"] == f"v2.conversations.chats.{guest.id}.messages"
    assert join["eventBody"]["bodyType"] == "member-join"
    assert join["eventBody"]["sender"] == {"id": agent_id}
    assert greeting["eventBody"]["body"] == simulator.agent.greeting
    assert set(greeting["eventBody"]) == {
        "id",
        "conversation",
        "sender",
        "body",
        "bodyType",
        "timestamp",
    }
    assert greeting["eventBody"]["timestamp"].endswith("Z")
    members = (await guest.get("/members")).json()
    assert {m["role"] for m in members["entities"]} == {"CUSTOMER", "AGENT"}
    assert conversation.socket_count == 1
    await stream.close()


async def test_guest_message_is_echoed_then_agent_types_and_replies(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    response = await guest.send("hello")
    assert response.status_code == 200
    sent = response.json()
    assert sent["body"] == "hello" and sent["bodyType"] == "standard"
    assert sent["sender"]["id"] == guest.member_id
    echo = await stream.next()
    typing = await stream.next()
    reply = await stream.next()
    assert kind(echo) == "message" and echo["eventBody"]["id"] == sent["id"]
    assert echo["eventBody"]["sender"] == {"id": guest.member_id}
    assert kind(typing) == "typing-indicator"
    assert set(typing["eventBody"]) == {"id", "conversation", "sender", "timestamp"}
    agent_id = simulator.state.conversations[guest.id].agent_member_id
    assert typing["eventBody"]["sender"] == {"id": agent_id}
    assert reply["eventBody"]["body"] == "You said: hello"
    assert reply["eventBody"]["sender"] == {"id": agent_id}
    bodies = [m.body for m in simulator.state.conversations[guest.id].messages]
    assert bodies[-2:] == ["hello", "You said: hello"]
    await stream.close()


async def test_agent_say_reaches_every_socket_and_the_messages_endpoint(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, first = await routed(http, simulator)
    second = await guest.connect()
    message = await simulator.agent_say(guest.id, "Anything else?")
    for stream in (first, second):
        body = await stream.message("standard", "Anything else?")
        assert body["id"] == message.id
    listed = (await guest.get("/messages")).json()
    assert listed["entities"][-1]["id"] == message.id
    assert simulator.state.conversations[guest.id].socket_count == 2
    await first.close()
    await second.close()
