"""The simulator beyond the loopback: a warning, an admin token, and bounds on every request.

Nothing here binds a non-loopback address: the decision is a pure function, and a
``Simulator(host="0.0.0.0")`` is built but never started. The running servers listen on
127.0.0.1 and set a token explicitly to exercise the auth path.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from sim_wire import create, routed

from webchat_async.simulator import Simulator, _admin, _limits, _routes
from webchat_async.simulator._admin import admin_token_for, exposure_notice, is_loopback
from webchat_async.simulator._limits import LimitError
from webchat_async.simulator._serve import serve

ADMIN = "/__simulator__"
TOKEN = "admin-token-for-tests-0123456789"


# -- who must show a token -------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "a.localhost"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    assert admin_token_for(host, None) == (None, False)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "", "192.168.1.10", "10.0.0.1", "example.com", "::ffff:1.2.3.4"]
)
def test_every_other_host_gets_a_generated_token(host: str) -> None:
    assert not is_loopback(host)
    token, generated = admin_token_for(host, None)
    assert generated and token is not None and len(token) >= 40
    assert admin_token_for(host, None)[0] != token  # random, not a constant


def test_a_given_token_is_kept_on_any_host_and_must_be_header_safe() -> None:
    assert admin_token_for("127.0.0.1", TOKEN) == (TOKEN, False)
    assert admin_token_for("0.0.0.0", TOKEN) == (TOKEN, False)
    for bad in ("", "two words", "line\r\nX-Evil: 1", "caf\u00e9"):
        with pytest.raises(ValueError, match="admin_token"):
            admin_token_for("127.0.0.1", bad)


def test_a_simulator_built_for_every_interface_requires_a_token_without_starting() -> None:
    sim = Simulator(host="0.0.0.0", port=0)
    assert sim.admin_token is not None and sim.admin_token_generated
    assert sim.admin_token not in repr(sim)
    assert Simulator(host="0.0.0.0", admin_token=TOKEN).admin_token == TOKEN
    assert Simulator(host="127.0.0.1").admin_token is None
    assert Simulator(host="127.0.0.1", admin_token=TOKEN).admin_token == TOKEN


def test_the_notice_warns_off_the_loopback_and_shows_a_generated_token_once() -> None:
    assert exposure_notice("127.0.0.1", None, False) == []
    assert exposure_notice("127.0.0.1", TOKEN, False) == [
        "admin API token required (Authorization: Bearer ...)"
    ]
    warning, shown = exposure_notice("0.0.0.0", "generated-token", True)
    assert warning.startswith("WARNING: the simulator listens on 0.0.0.0, beyond the loopback")
    assert shown.endswith(": generated-token")
    # A token the user chose is not printed back.
    lines = exposure_notice("0.0.0.0", TOKEN, False)
    assert len(lines) == 2 and not any(TOKEN in line for line in lines)


async def test_serve_prints_the_notice_to_stderr_and_nothing_secret_to_stdout() -> None:
    import asyncio

    out, err = io.StringIO(), io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve("127.0.0.1", 0, out=out, err=err, stop=stop, options={"admin_token": TOKEN})
    )
    while "Press Ctrl+C" not in out.getvalue():
        await asyncio.sleep(0)  # serve() prints as soon as it listens; no wall-clock wait
        assert not task.done(), task
    stop.set()
    await task
    assert err.getvalue() == "admin API token required (Authorization: Bearer ...)\n"
    assert TOKEN not in out.getvalue() + err.getvalue()


# -- the token on a running (loopback) server ------------------------------------------------


@pytest.fixture
async def guarded() -> AsyncIterator[Simulator]:
    async with Simulator(port=0, heartbeat_interval=None, admin_token=TOKEN) as sim:
        yield sim


async def test_every_admin_route_needs_the_token(guarded: Simulator) -> None:
    async with httpx.AsyncClient(base_url=guarded.base_url) as http:
        good = {"Authorization": f"Bearer {TOKEN}"}
        listing = await http.get(f"{ADMIN}/", headers=good)
        assert listing.status_code == 200
        routes = [(r["method"], r["path"]) for r in listing.json()["routes"]]
        assert len(routes) >= 10
        for headers in (
            {},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": "Bearer caf\u00e9".encode()},  # non-ASCII bytes: no 500
        ):
            for method, path in [*routes, ("GET", ADMIN)]:
                url = path.replace("{conversationId}", "any")
                refused = await http.request(method, url, headers=headers, json={})
                assert refused.status_code == 401, (method, path, headers)
                assert refused.headers["WWW-Authenticate"].startswith("Bearer")
                assert "Authorization: Bearer" in refused.json()["message"]
        # Nothing was done by the refused calls.
        assert guarded.faults.pending() == {}
        # The Genesys routes are the guests' and need no admin token.
        guest = await create(http, guarded)
        armed = await http.post(
            f"{ADMIN}/faults", json={"action": "rate_limit", "n": 1}, headers=good
        )
        assert armed.status_code == 200 and guarded.faults.pending() == {"rate_limit": 1}
        assert (await http.get(f"{ADMIN}/state", headers=good)).status_code == 200
        assert (await guest.get("/members")).status_code == 429  # the armed fault, not 401


async def test_the_loopback_default_needs_no_token(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    assert simulator.admin_token is None
    assert (await http.get(f"{ADMIN}/state")).status_code == 200


# -- bounds: 400 naming the field and the bound just past it; accepted at it ------------------


async def _fault(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await http.post(f"{ADMIN}/faults", json=body)


def _refused(response: httpx.Response, field: str, limit: float) -> None:
    assert response.status_code == 400, response.text
    data = response.json()
    assert data["field"] == field and data["limit"] == limit, data
    assert field in data["message"] and f"{limit:,g}" in data["message"].replace(",", ","), data


@pytest.mark.parametrize(
    ("action", "field", "key", "at", "past", "extra"),
    [
        ("delay", "seconds", "seconds", 300, 300.001, {}),
        ("rate_limit", "retry_after", "retryAfter", 3600, 3600.5, {"n": 1}),
        ("rate_limit", "n", "n", 10**9, 10**9 + 1, {}),
        ("server_errors", "n", "n", 10**9, 10**9 + 1, {}),
        ("fail_after_processing", "n", "n", 10**9, 10**9 + 1, {}),
        ("delay", "n", "n", 10**9, 10**9 + 1, {"seconds": 0}),
        ("refuse_handshakes", "n", "n", 10**9, 10**9 + 1, {}),
        ("duplicate_next_events", "n", "n", 10**9, 10**9 + 1, {}),
        ("server_errors", "status", "status", 599, 600, {"n": 1}),
        ("fail_after_processing", "status", "status", 599, 600, {}),
        ("refuse_handshakes", "status", "status", 599, 600, {"n": 1}),
        ("close_sockets", "code", "code", 4999, 5000, {}),
        ("send_oversize", "size_bytes", "sizeBytes", 16 * 1024 * 1024, 16 * 1024 * 1024 + 1, {}),
    ],
)
async def test_fault_bounds(
    simulator: Simulator,
    http: httpx.AsyncClient,
    action: str,
    field: str,
    key: str,
    at: float,
    past: float,
    extra: dict[str, Any],
) -> None:
    refused = await _fault(http, action=action, **{key: past}, **extra)
    assert refused.status_code == 400, refused.text
    data = refused.json()
    assert data["field"] == field and data["limit"] == at, data
    assert data["message"].startswith(f"{action}: {field} must be"), data
    accepted = await _fault(http, action=action, **{key: at}, **extra)
    assert accepted.status_code == 200, accepted.text
    simulator.faults.clear()


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3", None])
async def test_fault_counts_must_be_integers(http: httpx.AsyncClient, bad: object) -> None:
    refused = await _fault(http, action="refuse_handshakes", n=bad)
    assert refused.status_code == 400 and refused.json()["field"] == "n"


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "1", True])
def test_fault_delays_must_be_finite_seconds(simulator: Simulator, bad: Any) -> None:
    with pytest.raises(LimitError) as caught:
        simulator.faults.delay(bad)
    assert caught.value.field == "seconds"


async def test_send_raw_is_bounded_in_python_too(simulator: Simulator) -> None:
    with pytest.raises(LimitError, match="text must be a string of at most 16,777,216"):
        await simulator.faults.send_raw("x" * (16 * 1024 * 1024 + 1))
    assert await simulator.faults.send_raw("x" * (16 * 1024 * 1024)) == 0


async def test_say_many_count_and_text_bounds(
    simulator: Simulator, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest, stream = await routed(http, simulator)
    agent = f"{ADMIN}/conversations/{guest.id}/agent"
    past = await http.post(agent, json={"action": "say_many", "text": "x", "count": 10_001})
    _refused(past, "count", 10_000)
    for bad in (0, -5, True, "2", None):
        refused = await http.post(agent, json={"action": "say_many", "text": "x", "count": bad})
        assert refused.status_code == 400 and refused.json()["field"] == "count"
    # At the bound (shrunk: 10,000 frames to one socket take far longer than a unit test).
    monkeypatch.setattr(_admin, "MAX_SAY_COUNT", 3)
    at = await http.post(agent, json={"action": "say_many", "text": "x", "count": 3})
    assert at.status_code == 200 and at.json()["count"] == 3
    past_bound = {"action": "say_many", "text": "x", "count": 4}
    _refused(await http.post(agent, json=past_bound), "count", 3)
    long = "y" * 65_537
    for body in ({"action": "say", "text": long}, {"action": "say_many", "text": long, "count": 1}):
        _refused(await http.post(agent, json=body), "text", 65_536)
    said = await http.post(agent, json={"action": "say", "text": long[:-1]})
    assert said.status_code == 200 and len(said.json()["body"]) == 65_536
    too_many = [f"T{i}" for i in range(17)]
    refused = await http.post(agent, json={"action": "request_media", "types": too_many})
    _refused(refused, "types", 16)
    ok = await http.post(agent, json={"action": "request_media", "types": too_many[:16]})
    assert ok.status_code == 200
    await stream.close()


async def test_say_many_in_many_chats_bounds(
    simulator: Simulator, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    body: dict[str, Any] = {"action": "say_many", "text": "x", "count": 1}
    ids = [f"c{i}" for i in range(10_001)]
    _refused(
        await http.post(f"{ADMIN}/agent", json={**body, "conversationIds": ids}),
        "conversationIds",
        10_000,
    )
    # At the bound the ids are accepted (then looked up: these are unknown, 404).
    at = await http.post(f"{ADMIN}/agent", json={**body, "conversationIds": ids[:10_000]})
    assert at.status_code == 404
    # count x chats: 10,000 x 11 is past 100,000, before any id is looked up.
    past = await http.post(
        f"{ADMIN}/agent", json={**body, "count": 10_000, "conversationIds": ids[:11]}
    )
    _refused(past, "count", 100_000)
    assert "10,000 x 11" in past.json()["message"]
    # At the product bound (shrunk: the real one is 100,000 messages) the request is served.
    monkeypatch.setattr(_admin, "MAX_SAY_TOTAL", 6)
    chats = [await routed(http, simulator) for _ in range(3)]
    three = [guest.id for guest, _ in chats]
    ok = await http.post(f"{ADMIN}/agent", json={**body, "count": 2, "conversationIds": three})
    assert ok.status_code == 200 and ok.json() == {"count": 2, "conversations": 3}
    over = await http.post(f"{ADMIN}/agent", json={**body, "count": 3, "conversationIds": three})
    _refused(over, "count", 6)
    for _, stream in chats:
        await stream.close()


async def test_messages_per_conversation_are_bounded(
    simulator: Simulator, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest, stream = await routed(http, simulator)
    held = len(simulator.state.conversations[guest.id].messages)
    limit = held + 2
    monkeypatch.setattr(_routes, "MAX_MESSAGES", limit)
    monkeypatch.setattr(_admin, "MAX_MESSAGES", limit)
    agent = f"{ADMIN}/conversations/{guest.id}/agent"
    _refused(
        await http.post(agent, json={"action": "say_many", "text": "x", "count": 3}), "count", limit
    )
    assert (await guest.send("one")).status_code == 200
    # The echo agent answered "one": the conversation is at its bound now.
    await stream.message("standard", "You said: one")
    refused = await guest.send("two")
    assert refused.status_code == 400
    assert f"at most {limit:,} messages" in refused.json()["message"]
    _refused(await http.post(agent, json={"action": "say", "text": "x"}), "count", limit)
    await stream.close()


async def test_conversations_are_bounded(
    simulator: Simulator, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_routes, "MAX_CONVERSATIONS", 2)
    await create(http, simulator)
    await create(http, simulator)  # at the bound: the second one is created
    body = {
        "organizationId": simulator.organization_id,
        "deploymentId": simulator.deployment_id,
        "memberInfo": {"displayName": "Third"},
    }
    refused = await http.post("/api/v2/webchat/guest/conversations", json=body)
    assert refused.status_code == 400
    assert "at most 2 conversations" in refused.json()["message"]
    assert len(simulator.state.conversations) == 2


async def test_request_bodies_are_bounded(http: httpx.AsyncClient) -> None:
    limit = _limits.MAX_REQUEST_BYTES
    padding = '{"action": "clear", "pad": "'
    at = padding + "x" * (limit - len(padding) - 2) + '"}'
    assert len(at) == limit
    # At the bound the body is read (then refused for the unknown argument: 400, not 413).
    json_type = {"Content-Type": "application/json"}
    response = await http.post(f"{ADMIN}/faults", content=at, headers=json_type)
    assert response.status_code == 400 and "pad" in response.json()["message"]
    past = await http.post(f"{ADMIN}/faults", content=at + " ", headers=json_type)
    assert past.status_code == 413
    api = await http.post("/api/v2/webchat/guest/conversations", content=at + " ")
    assert api.status_code == 413


async def test_deeply_nested_admin_json_is_a_400_not_a_500(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{ADMIN}/faults", content="[" * 200_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "JSON" in response.json()["message"]


async def test_a_guest_frame_past_the_bound_closes_the_stream(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    limit = _limits.MAX_CLIENT_FRAME_BYTES
    guest = await create(http, simulator)
    async with websockets.connect(guest.stream_uri) as ws:
        await ws.send("x" * limit)  # at the bound: read and ignored (not a ping)
        await ws.send('{"message": "ping"}')
        while "pong" not in str(await ws.recv()):
            pass
        await ws.send("x" * (limit + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


# What a web page elsewhere can make a browser send to a simulator on the loopback: a
# request under its own name rebound to 127.0.0.1, a cross-site "simple" POST (no
# preflight: a form, or fetch with mode "no-cors"), a request from its own origin.


async def test_the_admin_api_on_the_loopback_refuses_a_foreign_host(
    http: httpx.AsyncClient, simulator: Simulator
) -> None:
    port = urlsplit(simulator.base_url).port
    rebound = await http.get(f"{ADMIN}/state", headers={"Host": f"evil.example:{port}"})
    assert rebound.status_code == 403 and "loopback Host" in rebound.json()["message"]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert (await http.get(f"{ADMIN}/state", headers={"Host": host})).status_code == 200


async def test_the_admin_api_refuses_a_body_that_is_not_json_typed(
    http: httpx.AsyncClient, simulator: Simulator
) -> None:
    body = '{"nextLinks": false}'
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {} if content_type is None else {"Content-Type": content_type}
        refused = await http.put(f"{ADMIN}/behaviour", content=body, headers=headers)
        assert refused.status_code == 415, content_type
        assert simulator.behaviour.next_links is True  # nothing changed
    allowed = await http.put(f"{ADMIN}/behaviour", json={"nextLinks": False})
    assert allowed.status_code == 200 and simulator.behaviour.next_links is False


async def test_the_admin_api_refuses_pages_of_other_origins(http: httpx.AsyncClient) -> None:
    foreign = await http.get(f"{ADMIN}/state", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    own = await http.get(f"{ADMIN}/state", headers={"Origin": "http://127.0.0.1:1"})
    assert own.status_code == 200
