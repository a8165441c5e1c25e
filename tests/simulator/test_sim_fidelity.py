"""Faithful by default: where the simulator used to be kinder or stricter than the service
(docs/protocol.md#what-the-simulator-does-by-default)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st
from sim_wire import API, GUEST, create, oauth_token, routed

from webchat_async.simulator import Simulator
from webchat_async.simulator._routes import _RateWindow


async def test_empty_query_values_mean_not_given(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    # What the official JavaScript guest client sends with its default options.
    guest = await create(http, simulator)
    stream = await guest.connect()
    assert (await guest.send("hi")).status_code == 200
    response = await http.get(
        f"{guest.path}/messages?after=&before=&sortOrder=&maxResults=", headers=guest.auth
    )
    assert response.status_code == 200, response.text
    assert "hi" in [m["body"] for m in response.json()["entities"]]
    response = await http.get(
        f"{guest.path}/members?pageSize=&pageNumber=&excludeDisconnectedMembers=",
        headers=guest.auth,
    )
    assert response.status_code == 200, response.text
    assert guest.member_id in [m["id"] for m in response.json()["entities"]]
    await stream.close()


async def test_create_answers_the_member_as_its_id_only(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        GUEST,
        json={
            "organizationId": simulator.organization_id,
            "deploymentId": simulator.deployment_id,
            "routingTarget": {"targetType": "QUEUE", "targetAddress": "Support"},
            "memberInfo": {"displayName": "Ann"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["member"] == {"id": response.json()["member"]["id"]}


async def test_guest_jwt_is_rs256_shaped_with_data_claims_and_21_hours(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await create(http, simulator)
    header, payload, signature = guest.jwt.split(".")

    def decode(part: str) -> Any:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    assert decode(header) == {"alg": "RS256", "typ": "JWT"}
    claims = decode(payload)
    assert claims["data"] == {
        "conv": guest.id,
        "did": simulator.deployment_id,
        "sub": guest.member_id,
    }
    assert claims["org"] == simulator.organization_id
    assert claims["exp"] - claims["iat"] == 21 * 3600
    assert len(base64.urlsafe_b64decode(signature + "==")) == 256  # as RSA-2048
    assert "conversationId" not in claims and "memberId" not in claims


async def test_authentication_required_deployment_needs_a_member_auth_token(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    token = await oauth_token(http, simulator)
    deployment = (
        await http.post(
            f"{API}/deployments",
            json={"name": "Authenticated", "authenticationRequired": True},
            headers={"Authorization": f"Bearer {token}"},
        )
    ).json()
    body = {
        "organizationId": simulator.organization_id,
        "deploymentId": deployment["id"],
        "memberInfo": {"displayName": "Ann"},
    }
    refused = await http.post(GUEST, json=body)
    assert refused.status_code == 400
    assert refused.json()["details"][0]["fieldName"] == "memberAuthToken"
    accepted = await http.post(GUEST, json={**body, "memberAuthToken": "signed-by-the-site"})
    assert accepted.status_code == 200
    conversation = simulator.conversations[accepted.json()["id"]]
    assert conversation.members[conversation.guest_member_id].authenticated_guest is True
    # A token given to a deployment that does not ask for one makes no authenticated guest.
    plain = await create(http, simulator, memberAuthToken="ignored")
    member = simulator.conversations[plain.id].members[plain.member_id]
    assert member.authenticated_guest is False


async def test_every_api_answer_carries_rate_limit_headers(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await create(http, simulator)
    first = await guest.get("/members")
    second = await guest.get("/members")
    for response in (first, second):
        assert int(response.headers["inin-ratelimit-allowed"]) >= 1
        assert 1 <= int(response.headers["inin-ratelimit-reset"]) <= 60
    assert int(second.headers["inin-ratelimit-count"]) == (
        int(first.headers["inin-ratelimit-count"]) + 1
    )
    simulator.faults.rate_limit(n=1, retry_after=2)
    limited = await guest.get("/members")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["inin-ratelimit-count"] == limited.headers["inin-ratelimit-allowed"]


async def test_a_second_delete_of_the_guest_answers_404(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    url = f"{guest.path}/members/{guest.member_id}"
    assert (await http.delete(url, headers=guest.auth)).status_code == 204
    again = await http.delete(url, headers=guest.auth)
    assert again.status_code == 404 and again.json()["code"] == "not.found"
    await stream.close()


async def test_a_conversation_never_attached_is_removed_after_the_grace() -> None:
    async with Simulator(heartbeat_interval=None, reconnect_grace=0.05) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            guest = await create(http, sim)
            await sim.wait_ended(guest.id)
            conversation = sim.conversations[guest.id]
            assert conversation.attachments == 0
            assert conversation.members[guest.member_id].state == "DISCONNECTED"


async def test_heartbeats_run_per_socket_from_its_attach() -> None:
    # A long interval: a socket attached now gets no beat at once (a shared loop would
    # beat every socket at the same moment, 0-30 s after an attach).
    async with Simulator(heartbeat_interval=3600) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            guest, stream = await routed(http, sim)
            sockets = sim._hub.sockets(guest.id)
            assert len(sockets) == 1
            beat = sockets[0].beat
            assert beat is not None
            delay = beat.when() - asyncio.get_running_loop().time()
            assert 3590 < delay <= 3600
            await stream.close()
            await sim.wait_sockets(guest.id, 0)
            assert sockets[0].beat is None


async def test_drain_says_socket_closing_then_closes_and_the_chat_lives(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    assert await simulator.drain(guest.id) == 1
    assert await stream.next() == {"topicName": "v2.system.socket_closing", "eventBody": {}}
    with pytest.raises(websockets.ConnectionClosedOK) as closed:
        await stream.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    again = await guest.connect()
    assert (await guest.send("still here")).status_code == 200
    await again.message("standard", "still here")
    await again.close()


SPEC_OPERATIONS = Path(__file__).resolve().parents[1] / "spec" / "operations.json"


async def test_the_simulator_serves_every_operation_of_the_spec(simulator: Simulator) -> None:
    operations = json.loads(SPEC_OPERATIONS.read_text())["operations"]
    assert len(operations) == 19
    app = simulator._runner.app  # type: ignore[union-attr]
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    for op in operations:
        assert (op["method"], op["path"]) in served, op["name"]


@given(
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=90, allow_nan=False), st.booleans()),
        max_size=400,
    )
)
def test_rate_window_headers_stay_within_their_bounds(steps: list[tuple[float, bool]]) -> None:
    now = [0.0]
    window = _RateWindow(clock=lambda: now[0])
    started, counted = 0.0, 0
    for advance, limited in steps:
        now[0] += advance
        if now[0] - started >= _RateWindow.WINDOW:
            started, counted = now[0], 0
        counted += 1
        headers = window.headers(limited)
        allowed = int(headers["inin-ratelimit-allowed"])
        count = int(headers["inin-ratelimit-count"])
        assert allowed == _RateWindow.ALLOWED
        assert count == (allowed if limited else min(counted, allowed))
        assert 1 <= int(headers["inin-ratelimit-reset"]) <= _RateWindow.WINDOW
