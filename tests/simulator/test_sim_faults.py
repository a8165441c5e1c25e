"""Every fault, over real sockets; heartbeats and ping/pong."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets
from sim_wire import create, kind, routed
from test_sim_rest_errors import assert_error

from webchat_async.simulator import Simulator

# A bound for checks that something does NOT arrive (a dead peer, a hung socket).
SILENCE = 0.2


async def test_drop_sockets_is_an_abnormal_close(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    assert simulator.faults.drop_sockets() == 1
    with pytest.raises(websockets.ConnectionClosedError) as closed:
        await stream.next()
    assert closed.value.rcvd is None  # no close frame: 1006
    assert simulator.state.conversations[guest.id].socket_count == 0
    assert not simulator.state.conversations[guest.id].ended
    again = await guest.connect()
    await simulator.wait_sockets(guest.id, 1)
    await again.close()


async def test_close_sockets_is_a_clean_close(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    assert await simulator.faults.close_sockets(guest.id, code=4000) == 1
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await stream.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    assert not simulator.state.conversations[guest.id].ended


async def test_refuse_handshakes(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await create(http, simulator)
    simulator.faults.refuse_handshakes(2, status=503)
    for _ in range(2):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await guest.connect()
        assert refused.value.response.status_code == 503
    # Refused handshakes do not start routing.
    assert not simulator.state.conversations[guest.id].attached
    stream = await guest.connect()
    await simulator.wait_routed(guest.id)
    await stream.close()


async def test_rate_limit_has_no_effect_and_says_retry_after(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    before = len(simulator.state.conversations[guest.id].messages)
    simulator.faults.rate_limit(n=2, retry_after=3)
    for _ in range(2):
        response = await guest.send("hi")
        assert_error(response, 429, "too.many.requests")
        assert response.headers["Retry-After"] == "3"
    assert len(simulator.state.conversations[guest.id].messages) == before
    assert (await guest.send("hi")).status_code == 200
    path = f"{guest.path}/members/{guest.member_id}/messages"
    assert simulator.state.count_requests("POST", path, 429) == 2
    assert simulator.state.count_requests("POST", path, 200) == 1
    await stream.close()


async def test_fractional_faults_are_seedable(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await create(http, simulator)

    async def run() -> list[int]:
        simulator.faults.seed(7)
        simulator.faults.server_errors(fraction=0.5, status=503)
        statuses = [(await guest.get("/members")).status_code for _ in range(20)]
        simulator.faults.clear()
        return statuses

    first, second = await run(), await run()
    assert first == second
    assert set(first) == {200, 503}


async def test_server_errors_before_processing(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    before = len(simulator.state.conversations[guest.id].messages)
    simulator.faults.server_errors(n=1, status=504)
    assert_error(await guest.send("lost"), 504, "gateway.timeout")
    assert len(simulator.state.conversations[guest.id].messages) == before
    await stream.close()


async def test_fail_after_processing_takes_effect(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    simulator.faults.fail_after_processing(1, status=502)
    assert_error(await guest.send("landed"), 502, "bad.gateway")
    bodies = [m.body for m in simulator.state.conversations[guest.id].messages]
    assert "landed" in bodies
    echo = await stream.message("standard", "landed")
    assert echo["sender"] == {"id": guest.member_id}
    path = f"{guest.path}/members/{guest.member_id}/messages"
    assert simulator.state.count_requests("POST", path, 502) == 1
    await stream.close()


async def test_delay(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await create(http, simulator)
    simulator.faults.delay(0.15, n=1)
    assert simulator.faults.pending() == {"delay": 1}
    start = time.monotonic()
    assert (await guest.get("/members")).status_code == 200
    # A lower bound only: a held response is never early, however loaded the machine.
    assert time.monotonic() - start >= 0.15
    # The fault was for one request: it is spent, so the next one is not held.
    assert simulator.faults.pending() == {}
    assert (await guest.get("/members")).status_code == 200


async def test_faults_do_not_touch_the_token_endpoint(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    simulator.faults.server_errors()
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(simulator.client_id, simulator.client_secret),
    )
    assert response.status_code == 200
    simulator.faults.clear()


async def test_bad_frames(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    assert await simulator.faults.send_malformed(guest.id) == 1
    raw = await asyncio.wait_for(stream.ws.recv(), 5)
    with pytest.raises(ValueError):
        json.loads(raw)
    await simulator.faults.send_unknown_topic()
    unknown = await stream.next()
    assert unknown["topicName"] == "v2.simulator.unknown.topic"
    await simulator.faults.send_raw('{"hello": 1}', guest.id)
    assert await stream.next() == {"hello": 1}
    await simulator.faults.send_oversize(2 * 1024 * 1024, guest.id)
    # The default client bound is 1 MiB: the frame closes the socket (1009).
    with pytest.raises(websockets.ConnectionClosedError) as closed:
        await stream.next()
    assert closed.value.sent is not None and closed.value.sent.code == 1009


async def test_oversize_frame_size(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await create(http, simulator)
    ws = await websockets.connect(guest.stream_uri, max_size=None)
    await simulator.wait_routed(guest.id)
    await simulator.faults.send_oversize(1_500_000, guest.id)
    while True:
        text = await asyncio.wait_for(ws.recv(), 5)
        if len(text) >= 1_500_000:
            break
    assert json.loads(text)["topicName"] == "channel.metadata"
    await ws.close()


async def test_duplicate_next_events(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    simulator.faults.duplicate_next_events(1)
    said = await simulator.agent_say(guest.id, "twice")
    first, second = await stream.next(), await stream.next()
    assert first == second and first["eventBody"]["id"] == said.id
    once = await simulator.agent_say(guest.id, "once")
    marker = await simulator.agent_say(guest.id, "marker")
    assert (await stream.next())["eventBody"]["id"] == once.id
    assert (await stream.next())["eventBody"]["id"] == marker.id
    await stream.close()


async def test_expire_guest_tokens(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    other = await create(http, simulator)
    assert simulator.faults.expire_guest_tokens(guest.id) == 1
    assert_error(await guest.get("/messages"), 401, "bad.credentials")
    assert (await other.get("/messages")).status_code == 200
    with pytest.raises(websockets.InvalidStatus) as refused:
        await guest.connect()
    assert refused.value.response.status_code == 401
    await stream.close()


async def test_heartbeats_and_pong(simulator: Simulator, http: httpx.AsyncClient) -> None:
    _guest, stream = await routed(http, simulator)
    assert await simulator.send_heartbeats() == 1
    beat = await stream.next()
    # Real heartbeats and pongs carry neither "metadata" nor "version".
    assert beat == {
        "topicName": "channel.metadata",
        "eventBody": {"message": "WebSocket Heartbeat"},
    }
    await stream.ws.send(json.dumps({"message": "ping"}))
    pong = await stream.next()
    assert pong == {"topicName": "channel.metadata", "eventBody": {"message": "pong"}}
    # Websocket-level pings are answered too.
    waiter = await stream.ws.ping()
    await asyncio.wait_for(waiter, 5)
    await stream.close()


async def test_heartbeat_loop_and_stop_resume() -> None:
    async with Simulator(heartbeat_interval=0.01) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            guest, stream = await routed(http, sim)
            beat = await stream.until(lambda f: f.get("topicName") == "channel.metadata")
            assert beat["eventBody"] == {"message": "WebSocket Heartbeat"}
            sim.faults.stop_heartbeats()
            marker = await sim.agent_say(guest.id, "marker")
            await stream.until(lambda f: f.get("eventBody", {}).get("id") == marker.id)
            with pytest.raises(asyncio.TimeoutError):
                await stream.until(lambda f: f.get("topicName") == "channel.metadata", SILENCE)
            sim.faults.resume_heartbeats()
            await stream.until(lambda f: f.get("topicName") == "channel.metadata")
            await stream.close()


async def test_hung_sockets_go_silent(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, hung = await routed(http, simulator)
    assert simulator.faults.hang_sockets(guest.id) == 1
    alive = await guest.connect()
    await simulator.wait_sockets(guest.id, 2)
    said = await simulator.agent_say(guest.id, "only the live one hears this")
    assert (await alive.next())["eventBody"]["id"] == said.id
    await simulator.send_heartbeats()
    assert kind(await alive.next()) is None
    await hung.ws.send(json.dumps({"message": "ping"}))
    waiter = await hung.ws.ping()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(waiter, SILENCE)
    with pytest.raises(asyncio.TimeoutError):
        await hung.next(SILENCE)
    assert simulator.state.conversations[guest.id].socket_count == 2
    await alive.close()
    await hung.close()


async def test_clear(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await create(http, simulator)
    simulator.faults.rate_limit()
    simulator.faults.refuse_handshakes(5)
    assert (await guest.get("/members")).status_code == 429
    simulator.faults.clear()
    assert (await guest.get("/members")).status_code == 200
    stream = await guest.connect()
    await simulator.wait_routed(guest.id)
    await stream.close()
