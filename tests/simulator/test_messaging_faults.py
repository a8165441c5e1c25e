"""Web Messaging fault switches (``Simulator.faults``): reorder, drop without replay, drop
before the echo, short session TTL and expiry, the session limit, and the admin route."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from wm_wire import Frame, Guest, configured, history, is_message

from webchat_async.simulator import Agent, Simulator


@pytest.fixture
async def quiet() -> AsyncIterator[Simulator]:
    """A simulator whose agent neither greets nor answers, so each push is the test's."""
    async with Simulator(agent=Agent(greeting=None), heartbeat_interval=None) as sim:
        yield sim


async def started(sim: Simulator) -> tuple[Guest, str]:
    """A configured guest whose conversation the agent has joined."""
    guest = await configured(sim)
    await guest.say("hi")
    await guest.echo_of("hi")
    (conversation_id,) = sim.conversations
    await sim.wait_routed(conversation_id)
    return guest, conversation_id


async def barrier(guest: Guest) -> list[Frame]:
    """Every frame that arrives before the answer to an ``echo`` sent now."""
    start = len(guest.seen)
    await guest.request("echo", message={"type": "Text", "text": "ping"})
    return guest.seen[start:]


async def test_reorder_delivers_out_of_time_order(quiet: Simulator) -> None:
    guest, conversation_id = await started(quiet)
    quiet.faults.reorder_next_events(2)
    first = await quiet.agent_say(conversation_id, "first")
    second = await quiet.agent_say(conversation_id, "second")
    a = await guest.agent_text()
    b = await guest.agent_text()
    assert [a["body"]["text"], b["body"]["text"]] == ["second", "first"]
    assert [a["body"]["id"], b["body"]["id"]] == [second.id, first.id]
    assert a["body"]["channel"]["time"] >= b["body"]["channel"]["time"]
    # Then in order again.
    await quiet.agent_say(conversation_id, "third")
    assert (await guest.agent_text())["body"]["text"] == "third"
    with pytest.raises(ValueError):
        quiet.faults.reorder_next_events(1)
    await guest.close()


async def test_drop_without_replay(quiet: Simulator) -> None:
    guest, conversation_id = await started(quiet)
    assert quiet.faults.drop_sockets(conversation_id) == 1
    with pytest.raises(websockets.ConnectionClosedError) as closed:
        await guest.next()
    assert closed.value.rcvd is None  # no close frame: 1006
    await quiet.wait_sockets(conversation_id, 0)
    missed = await quiet.agent_say(conversation_id, "while you were away")
    again = await configured(quiet, guest.token)
    assert again.seen[-1]["body"]["newSession"] is False
    assert not any(is_message(f, None, "Outbound") for f in await barrier(again))
    async with httpx.AsyncClient(base_url=quiet.base_url) as client:
        page = (await history(client, await again.jwt())).json()
    assert page["entities"][0]["id"] == missed.id
    await again.close()


async def test_drop_after_storing_before_the_echo(quiet: Simulator) -> None:
    quiet.faults.messaging_rate_limit(None)  # three messages in a row
    guest, _ = await started(quiet)
    quiet.faults.drop_before_echo()
    await guest.say("did it arrive?", metadata={"customMessageId": "c-42"})
    with pytest.raises(websockets.ConnectionClosedError):
        while True:
            assert not is_message(await guest.next(), "did it arrive?", "Inbound")
    again = await configured(quiet, guest.token)
    async with httpx.AsyncClient(base_url=quiet.base_url) as client:
        page = (await history(client, await again.jwt())).json()
    newest = page["entities"][0]
    assert newest["text"] == "did it arrive?"
    assert newest["metadata"] == {"customMessageId": "c-42"}
    # Used up: the next message is echoed.
    await again.say("again")
    await again.echo_of("again")
    await again.close()


async def test_history_without_metadata_leaves_it_out_of_the_history_only(
    quiet: Simulator,
) -> None:
    quiet.faults.messaging_rate_limit(None)  # three messages in a row
    guest, _ = await started(quiet)
    quiet.faults.messaging_history_without_metadata()
    await guest.say("mine", metadata={"customMessageId": "c-7"})
    echo = await guest.echo_of("mine")
    assert echo["body"]["metadata"] == {"customMessageId": "c-7"}  # the socket keeps it

    async def newest() -> dict[str, object]:
        async with httpx.AsyncClient(base_url=quiet.base_url) as client:
            page = (await history(client, await guest.jwt())).json()
        entry: dict[str, object] = page["entities"][0]
        assert entry["text"] == "mine" and entry["id"] == echo["body"]["id"]
        return entry

    stripped = await newest()
    assert "metadata" not in stripped
    assert isinstance(stripped["channel"], dict) and "metadata" not in stripped["channel"]
    quiet.faults.clear()
    assert (await newest())["metadata"] == {"customMessageId": "c-7"}
    quiet.faults.messaging_history_without_metadata()
    quiet.faults.messaging_history_without_metadata(False)
    assert (await newest())["metadata"] == {"customMessageId": "c-7"}
    async with httpx.AsyncClient(base_url=quiet.base_url) as client:
        response = await client.post(
            "/__simulator__/faults", json={"action": "messaging_history_without_metadata"}
        )
        assert response.status_code == 200, response.text
        assert quiet.faults.history_without_metadata is True
        refused = await client.post(
            "/__simulator__/faults",
            json={"action": "messaging_history_without_metadata", "on": "yes"},
        )
        assert refused.status_code == 400 and quiet.faults.history_without_metadata is True
    assert "metadata" not in await newest()
    await guest.close()


async def test_short_session_ttl_expires_then_closes(quiet: Simulator) -> None:
    quiet.faults.messaging_session_ttl(0.2)
    guest = await Guest.connect(quiet)
    answer = await guest.configure()
    assert answer["body"]["durationSeconds"] == 1  # whole seconds, rounded up
    expired = await guest.until(lambda f: f.get("class") == "SessionExpiredEvent")
    assert expired["type"] == "response" and expired["code"] == 200
    with pytest.raises(websockets.ConnectionClosed):
        await guest.next()
    (conversation_id,) = quiet.conversations
    await quiet.wait_ended(conversation_id)


async def test_session_limit_closes_the_oldest_socket(quiet: Simulator) -> None:
    quiet.faults.messaging_socket_limit(2)
    token = str(uuid.uuid4())
    sockets = [await configured(quiet, token) for _ in range(2)]
    third = await configured(quiet, token)
    closed = await sockets[0].until(lambda f: f.get("class") == "ConnectionClosedEvent")
    assert closed == {"type": "message", "class": "ConnectionClosedEvent", "code": 200, "body": {}}
    with pytest.raises(websockets.ConnectionClosed):
        await sockets[0].next()
    await third.say("still here")
    for guest in (sockets[1], third):
        await guest.echo_of("still here")
        await guest.close()


async def test_faults_clear_restores_the_service_limits(quiet: Simulator) -> None:
    quiet.faults.messaging_rate_limit(None)
    quiet.faults.messaging_socket_limit(1)
    quiet.faults.clear()
    assert quiet.faults.message_rate == 2 and quiet.faults.socket_limit == 10


async def test_admin_route_drives_messaging_faults(quiet: Simulator) -> None:
    guest, _ = await started(quiet)
    async with httpx.AsyncClient(base_url=quiet.base_url) as client:
        response = await client.post(
            "/__simulator__/faults", json={"action": "expire_sessions", "close": False}
        )
        assert response.status_code == 200 and response.json()["result"] == 1
        await guest.until(lambda f: f.get("class") == "SessionExpiredEvent")
        limited = await client.post(
            "/__simulator__/faults",
            json={"action": "limit_attachments", "fileTypes": ["image/png"]},
        )
        assert limited.status_code == 200
        config = await client.get(
            f"/webdeployments/v1/deployments/{quiet.deployment_id}/config.json"
        )
        assert config.json()["messenger"]["fileUpload"]["modes"][0]["fileTypes"] == ["image/png"]
    await guest.close()


async def raw_guest(sim: Simulator, token: str) -> asyncio.StreamWriter:
    """A guest that configures a session, then never reads again (nor answers a close)."""
    host, port = sim.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /v1?deploymentId={sim.deployment_id}&application=raw HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    payload = json.dumps({"action": "configureSession", "token": token}).encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    await writer.drain()
    # Read the SessionResponse (an unmasked text frame), then nothing more.
    head = await reader.readexactly(2)
    size = head[1] & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    assert json.loads(await reader.readexactly(size))["class"] == "SessionResponse"
    return writer


async def test_a_peer_that_never_answers_the_close_holds_up_nothing(quiet: Simulator) -> None:
    quiet.faults.messaging_socket_limit(1)
    token = str(uuid.uuid4())
    silent = await raw_guest(quiet, token)
    (conversation_id,) = quiet.conversations
    await quiet.wait_sockets(conversation_id, 1)
    guest = await configured(quiet, token)  # the silent one is the oldest: closed
    answer = await guest.request("echo", message={"type": "Text", "text": "ping"})
    assert answer["class"] == "StructuredMessage"
    await guest.close()
    silent.close()


@pytest.mark.parametrize(
    ("action", "arguments"),
    [
        ("reorder_next_events", {"n": 1001}),
        ("drop_before_echo", {"n": -1}),
        ("fail_uploads", {"errorCode": 42}),
        ("messaging_rate_limit", {"perSecond": 0}),
        ("messaging_rate_limit", {"retryAfter": 10**6}),
        ("messaging_socket_limit", {"n": 0}),
        ("messaging_session_ttl", {"seconds": 10**9}),
        ("limit_attachments", {"maxFileSizeKb": 10**7}),
        ("limit_attachments", {"fileTypes": "image/png"}),
        ("limit_attachments", {"blockedExtensions": ["x"] * 101}),
    ],
)
async def test_switches_from_the_admin_api_are_bounded(
    quiet: Simulator, action: str, arguments: dict[str, object]
) -> None:
    async with httpx.AsyncClient(base_url=quiet.base_url) as client:
        response = await client.post("/__simulator__/faults", json={"action": action, **arguments})
    assert response.status_code == 400, response.text
    # Nothing changed.
    assert quiet.faults.message_rate == 2 and quiet.faults.socket_limit == 10
    assert quiet.faults.attachment_limits == (None, None, None)
    assert quiet.faults.session_ttl is None and quiet.faults.pending() == {}


def test_session_ttl_refuses_what_is_not_a_finite_number(quiet: Simulator) -> None:
    for bad in (float("nan"), float("inf"), 0, -1, True):
        with pytest.raises(ValueError):
            quiet.faults.messaging_session_ttl(bad)
