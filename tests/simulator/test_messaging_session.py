"""Web Messaging on the simulator: the actions of spec §3 and their answer shapes, over a
bare websocket and httpx against a real server."""

from __future__ import annotations

import httpx
import pytest
import websockets
from sim_wire import create
from wm_wire import Guest, configured, history

from webchat_async.models import WebChatDeployment
from webchat_async.simulator import Simulator


async def test_configure_session_answers_the_spec_shape(simulator: Simulator) -> None:
    guest = await Guest.connect(simulator)
    tracing = await guest.send("configureSession", deploymentId=simulator.deployment_id)
    answer = await guest.next()
    assert answer["type"] == "response" and answer["class"] == "SessionResponse"
    assert answer["code"] == 200 and answer["tracingId"] == tracing
    body = answer["body"]
    assert body["connected"] is True and body["newSession"] is True
    assert body["readOnly"] is False and body["clearedExistingSession"] is False
    media = body["allowedMedia"]["inbound"]
    assert {"type": "image/png"} in media["fileTypes"] and media["maxFileSizeKB"] == 10240
    assert ".exe" in body["blockedExtensions"]
    assert body["maxCustomDataBytes"] == 2048
    assert body["durationSeconds"] == 86400
    assert isinstance(body["expirationDate"], int) and body["expirationDate"] > 0
    await guest.close()


async def test_same_token_is_the_same_session_and_conversation(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    first = await configured(simulator)
    await first.say("hello")
    await first.echo_of("hello")
    second = await Guest.connect(simulator, first.token)
    answer = await second.configure()
    assert answer["body"]["newSession"] is False
    # Both sockets of the token get what is pushed to the session.
    await second.say("from the second tab")
    for guest in (first, second):
        await guest.echo_of("from the second tab")
    page = (await history(http, await second.jwt())).json()
    texts = [m.get("text") for m in page["entities"] if m["direction"] == "Inbound"]
    assert texts == ["from the second tab", "hello"]
    # A new token is a new session with an empty conversation.
    other = await configured(simulator)
    assert (await history(http, await other.jwt())).json()["total"] == 0
    for guest in (first, second, other):
        await guest.close()


async def test_on_message_echo_is_a_pushed_inbound_message_keeping_metadata(
    simulator: Simulator,
) -> None:
    guest = await configured(simulator)
    tracing = await guest.say("hi", metadata={"customMessageId": "c-1"})
    echo = await guest.echo_of("hi")
    assert echo["type"] == "message" and echo["code"] == 200
    # A pushed message, not the answer to the request: it carries no tracingId.
    assert "tracingId" not in echo and tracing
    body = echo["body"]
    assert body["direction"] == "Inbound" and body["type"] == "Text"
    assert body["metadata"] == {"customMessageId": "c-1"}
    assert body["originatingEntity"] == "Human"
    assert body["channel"]["messageId"] == body["id"] and body["channel"]["time"].endswith("Z")
    await guest.close()


async def test_echo_is_a_response_with_fresh_expiry(simulator: Simulator) -> None:
    guest = await configured(simulator)
    tracing = await guest.send("echo", message={"type": "Text", "text": "ping"})
    answer = await guest.until(lambda f: f.get("tracingId") == tracing)
    assert answer["type"] == "response" and answer["class"] == "StructuredMessage"
    assert answer["code"] == 200
    body = answer["body"]
    assert body["text"] == "ping" and body["direction"] == "Inbound"
    assert body["metadata"]["durationSeconds"] == "86400"
    assert int(body["metadata"]["expirationDate"]) > 0
    await guest.close()


async def test_history_newest_first_in_pages(simulator: Simulator, http: httpx.AsyncClient) -> None:
    simulator.faults.messaging_rate_limit(None)
    guest = await configured(simulator)
    for i in range(5):
        await guest.say(f"m{i}", metadata={"customMessageId": f"id-{i}"})
        await guest.echo_of(f"m{i}")
    await simulator.wait_routed(next(iter(simulator.conversations)))
    jwt = await guest.jwt()
    page = (await history(http, jwt, pageSize=2, pageNumber=1)).json()
    assert set(page) == {"entities", "pageSize", "pageNumber", "total", "pageCount"}
    assert page["pageSize"] == 2 and page["pageNumber"] == 1
    total = page["total"]
    assert page["pageCount"] == (total + 1) // 2
    everything = (await history(http, jwt, pageSize=100)).json()["entities"]
    times = [m["channel"]["time"] for m in everything]
    assert times == sorted(times, reverse=True)
    mine = [m for m in everything if m["direction"] == "Inbound"]
    assert [m["metadata"]["customMessageId"] for m in mine] == [f"id-{i}" for i in range(4, -1, -1)]
    assert page["entities"] == everything[:2]
    await guest.close()


async def test_history_needs_the_current_jwt_and_an_origin(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await configured(simulator)
    old = await guest.jwt()
    jwt = await guest.request("getJwt")
    assert jwt["class"] == "JwtResponse" and jwt["code"] == 200
    assert isinstance(jwt["body"]["exp"], int) and jwt["body"]["jwt"] == old
    assert (await history(http, old)).status_code == 200
    assert (await history(http, old, origin=None)).status_code == 403
    assert (await http.get("/api/v2/webmessaging/messages")).status_code == 401
    # A reconfigure (a reconnect) invalidates the JWT from before it.
    await guest.configure()
    assert (await history(http, old)).status_code == 401
    fresh = await guest.jwt()
    assert fresh != old and (await history(http, fresh)).status_code == 200
    await guest.close()


async def test_origin_refused_on_the_upgrade(simulator: Simulator) -> None:
    deployment = simulator.state.add_deployment(
        WebChatDeployment(name="restricted", allowed_domains=["shop.example"])
    )
    assert deployment.id is not None
    guest = await Guest.connect(simulator, deployment_id=deployment.id)
    await guest.close()
    for origin in ("https://evil.example", None):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await Guest.connect(simulator, origin=origin, deployment_id=deployment.id)
        assert refused.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus) as unknown:
        await Guest.connect(simulator, deployment_id="no-such-deployment")
    assert unknown.value.response.status_code == 403


async def test_config_json_is_public(simulator: Simulator, http: httpx.AsyncClient) -> None:
    response = await http.get(
        f"/webdeployments/v1/deployments/{simulator.deployment_id}/config.json"
    )
    assert response.status_code == 200
    config = response.json()
    assert config["id"] == simulator.deployment_id
    assert config["messenger"]["enabled"] is True
    upload = config["messenger"]["fileUpload"]
    assert upload["modes"][0]["maxFileSizeKB"] == 10240
    assert "image/png" in upload["modes"][0]["fileTypes"]
    assert ".exe" in upload["blockedExtensions"]
    assert config["session"] == {"durationSeconds": 86400, "maxCustomDataBytes": 2048}
    missing = await http.get("/webdeployments/v1/deployments/nope/config.json")
    assert missing.status_code == 404


async def test_the_scripted_agent_answers(simulator: Simulator) -> None:
    guest = await configured(simulator)
    await guest.say("where is my order")
    await guest.echo_of("where is my order")
    greeting = await guest.agent_text(simulator.agent.greeting)
    assert greeting["body"]["channel"]["from"]["nickname"] == simulator.agent.name
    typing = await guest.until(
        lambda f: f.get("class") == "StructuredMessage" and f["body"]["type"] == "Event"
    )
    assert typing["body"]["events"] == [
        {"eventType": "Typing", "typing": {"type": "On", "duration": 5000}}
    ]
    reply = await guest.agent_text("You said: where is my order")
    assert reply["type"] == "message" and reply["body"]["direction"] == "Outbound"
    conversation_id = simulator.messaging_conversation_id(guest.token)
    assert simulator.conversations[conversation_id].protocol == "messaging"
    await simulator.agent_say(conversation_id, "anything else?")
    await guest.agent_text("anything else?")
    with pytest.raises(KeyError) as unknown:
        simulator.messaging_conversation_id("secret-token")
    assert "secret-token" not in str(unknown.value)
    await guest.close()


async def test_close_session_tells_the_other_sockets(simulator: Simulator) -> None:
    first = await configured(simulator)
    second = await configured(simulator, first.token)
    answer = await second.request("closeSession", closeAllConnections=True)
    assert answer["class"] == "SessionResponse" and answer["body"]["connected"] is False
    closed = await first.until(lambda f: f.get("class") == "ConnectionClosedEvent")
    assert closed["type"] == "message" and closed["code"] == 200
    with pytest.raises(websockets.ConnectionClosed):
        await first.next()
    # The closing socket has no session any more: 4007 until it configures again.
    refused = await second.request("getJwt")
    assert refused["class"] == "string" and refused["code"] == 4007
    again = await second.configure()
    assert again["body"]["newSession"] is False
    await second.close()


async def test_read_only_then_start_new(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await configured(simulator)
    await guest.say("hi")
    (conversation_id,) = simulator.conversations
    await simulator.wait_routed(conversation_id)
    await simulator.agent_end(conversation_id)
    end = await guest.until(
        lambda f: (
            f.get("class") == "StructuredMessage"
            and f["body"]["events"][:1]
            == [{"eventType": "Presence", "presence": {"type": "Disconnect"}}]
        )
    )
    assert end["type"] == "message" and end["body"]["metadata"] == {"readOnly": "true"}
    await simulator.wait_ended(conversation_id)
    tracing = await guest.say("anyone?")
    refused = await guest.until(lambda f: f.get("tracingId") == tracing)
    assert refused == {
        "type": "response",
        "class": "string",
        "code": 409,
        "body": "Session is read-only, no new messages allowed",
        "tracingId": tracing,
    }
    # A read-only session still reads its history (spec §7.4).
    jwt = await guest.jwt()
    assert (await history(http, jwt)).json()["entities"][0]["metadata"] == {"readOnly": "true"}
    # Reconfigure without startNew: still read-only; with it: a new conversation.
    assert (await guest.configure())["body"]["readOnly"] is True
    fresh = await guest.configure(startNew=True)
    assert fresh["body"]["readOnly"] is False and fresh["body"]["newSession"] is False
    await guest.say("new chat")
    await guest.echo_of("new chat")
    assert len(simulator.conversations) == 2
    page = (await history(http, await guest.jwt())).json()
    assert [m.get("text") for m in page["entities"] if m["direction"] == "Inbound"] == ["new chat"]
    await guest.close()


async def test_typing_join_and_clear_events(simulator: Simulator) -> None:
    simulator.faults.messaging_rate_limit(None)  # three events in a row
    guest = await configured(simulator)
    await guest.send(
        "onMessage",
        message={"type": "Event", "events": [{"eventType": "Typing", "typing": {"type": "On"}}]},
    )
    join = {"eventType": "Presence", "presence": {"type": "Join"}}
    await guest.send("onMessage", message={"type": "Event", "events": [join]})
    echoed = await guest.until(lambda f: f.get("class") == "StructuredMessage")
    assert echoed["type"] == "message" and echoed["body"]["events"] == [join]
    assert echoed["body"]["direction"] == "Inbound"
    # The Join starts the conversation: the agent greets.
    await guest.agent_text(simulator.agent.greeting)
    clear = {"eventType": "Presence", "presence": {"type": "Clear"}}
    await guest.send("onMessage", message={"type": "Event", "events": [clear]})
    cleared = await guest.until(lambda f: f.get("class") == "SessionClearedEvent")
    assert cleared["type"] == "message"
    await guest.until(lambda f: f.get("class") == "ConnectionClosedEvent")
    with pytest.raises(websockets.ConnectionClosed):
        await guest.next()
    again = await configured(simulator, guest.token)
    assert again.seen[-1]["body"]["newSession"] is True
    await again.close()


async def test_admin_lists_and_drives_a_messaging_chat(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await configured(simulator)
    await guest.say("hi")
    (conversation_id,) = simulator.conversations
    await simulator.wait_routed(conversation_id)
    state = (await http.get("/__simulator__/state")).json()
    assert [c["protocol"] for c in state["conversations"]] == ["messaging"]
    agent = f"/__simulator__/conversations/{conversation_id}/agent"
    said = await http.post(agent, json={"action": "say", "text": "from admin"})
    assert said.status_code == 200 and said.json()["body"] == "from admin"
    pushed = await guest.agent_text("from admin")
    assert pushed["body"]["id"] == said.json()["id"]
    assert (await http.post(agent, json={"action": "typing"})).status_code == 200
    media = await http.post(agent, json={"action": "request_media"})
    assert media.status_code == 409
    assert (await http.post(agent, json={"action": "end"})).status_code == 204
    await guest.until(lambda f: f.get("body", {}).get("metadata") == {"readOnly": "true"})
    assert (await http.post(agent, json={"action": "say", "text": "x"})).status_code == 409
    await guest.close()


async def test_default_simulator_serves_both_protocols() -> None:
    async with Simulator() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        web_chat = await create(http, sim)
        guest = await configured(sim)
        await guest.say("both")
        await guest.echo_of("both")
        unconfigured = await Guest.connect(sim)
        protocols = {c.id: c.protocol for c in sim.conversations.values()}
        assert sorted(protocols.values()) == ["messaging", "webchat"]
        assert protocols[web_chat.id] == "webchat"
    # Stopping closes every Web Messaging socket with 1001, configured or not, and sends
    # them no Web Chat v2 frame (socket_closing).
    for ws in (guest, unconfigured):
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frame = await ws.next()
                assert "topicName" not in frame
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
