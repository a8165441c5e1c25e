"""Admin endpoints under /__simulator__/ and ``python -m webchat_async.simulator``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
import pytest
import websockets
from sim_wire import create, routed

from webchat_async.simulator import Simulator

ADMIN = "/__simulator__"


async def test_fault_endpoints(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await create(http, simulator)
    response = await http.post(
        f"{ADMIN}/faults", json={"action": "rate_limit", "n": 1, "retryAfter": 2}
    )
    assert response.json() == {"action": "rate_limit", "result": None}
    limited = await guest.get("/members")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert (await guest.get("/members")).status_code == 200
    await http.post(f"{ADMIN}/faults", json={"action": "server_errors"})
    assert (await guest.get("/members")).status_code == 503
    assert (await http.delete(f"{ADMIN}/faults")).status_code == 204
    assert (await guest.get("/members")).status_code == 200
    bad = await http.post(f"{ADMIN}/faults", json={"action": "format_disk"})
    assert bad.status_code == 400
    bad = await http.post(f"{ADMIN}/faults", json={"action": "delay", "nope": 1})
    assert bad.status_code == 400
    # Admin calls are not REST requests of the API: not logged, never faulted.
    assert all(not r.path.startswith(ADMIN) for r in simulator.state.requests)


async def test_socket_faults_and_agent_over_admin(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    agent = f"{ADMIN}/conversations/{guest.id}/agent"
    said = (await http.post(agent, json={"action": "say", "text": "hi from afar"})).json()
    assert (await stream.message("standard", "hi from afar"))["id"] == said["id"]
    await http.post(agent, json={"action": "typing"})
    media = (await http.post(agent, json={"action": "request_media", "types": ["VIDEO"]})).json()
    assert media["types"] == ["VIDEO"] and media["state"] == "PENDING"
    sent = await http.post(f"{ADMIN}/heartbeats")
    assert sent.json() == {"sent": 1}
    state = (await http.get(f"{ADMIN}/state")).json()
    assert state["organizationId"] == simulator.organization_id
    assert state["conversations"][0]["id"] == guest.id
    assert state["conversations"][0]["routed"] is True
    dropped = await http.post(
        f"{ADMIN}/faults", json={"action": "drop_sockets", "conversationId": guest.id}
    )
    assert dropped.json() == {"action": "drop_sockets", "result": 1}
    with pytest.raises(websockets.ConnectionClosedError):
        await stream.until(lambda f: False)
    assert (await http.post(f"{ADMIN}/conversations/nope/agent", json={})).status_code == 404
    assert (await http.post(agent, json={"action": "dance"})).status_code == 400
    assert (await http.post(agent, json={"action": "end"})).status_code == 204
    assert simulator.state.conversations[guest.id].ended


async def test_module_run_prints_credentials_and_serves() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "webchat_async.simulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [
            (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()
            for _ in range(5)
        ]
        assert lines[0].startswith("Web Chat simulator listening on http://127.0.0.1:")
        base_url = lines[0].rsplit(" ", 1)[1]
        values = dict(line.split(":", 1) for line in lines[1:])
        values = {k.strip(): v.strip() for k, v in values.items()}
        assert set(values) == {"organization id", "deployment id", "client id", "client secret"}
        async with httpx.AsyncClient(base_url=base_url) as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(values["client id"], values["client secret"]),
            )
            assert token.status_code == 200
            deployment = await http.get(
                f"/api/v2/webchat/deployments/{values['deployment id']}",
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            assert deployment.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 20) == 0
