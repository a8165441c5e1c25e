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

from webchat_async.simulator import Behaviour, Simulator

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


async def test_admin_index_lists_every_admin_route(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    index = await http.get("/__simulator__/")
    assert index.status_code == 200
    routes = {(r["method"], r["path"]) for r in index.json()["routes"]}
    assert all(r["summary"] for r in index.json()["routes"])
    registered = {
        (route.method, route.resource.canonical)
        for route in simulator._runner.app.router.routes()  # type: ignore[union-attr]
        if route.resource is not None
        and route.resource.canonical.startswith("/__simulator__/")
        and route.method != "HEAD"
    }
    assert registered == routes


async def test_admin_behaviour_get_put_and_drain(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    assert (await http.get("/__simulator__/behaviour")).json() == {
        "nextLinks": True,
        "answerTextPing": True,
        "post503AfterProcessing": False,
        "readsAfterEnd": "refused",
        "handshakeAfterEnd": 400,
    }
    changed = await http.put(
        "/__simulator__/behaviour",
        json={"nextLinks": False, "post503AfterProcessing": True, "handshakeAfterEnd": 404},
    )
    assert changed.status_code == 200
    assert simulator.behaviour.next_links is False
    assert simulator.behaviour.post_503_after_processing is True
    assert simulator.behaviour.handshake_after_end == 404
    assert simulator.behaviour.answer_text_ping is True
    bad = await http.put("/__simulator__/behaviour", json={"handshakeAfterEnd": 500})
    assert bad.status_code == 400 and "handshake_after_end" in bad.json()["message"]
    unknown = await http.put("/__simulator__/behaviour", json={"nope": 1})
    assert unknown.status_code == 400 and "nope" in unknown.json()["message"]
    assert simulator.behaviour.handshake_after_end == 404
    assert (await http.post("/__simulator__/drain", json={})).json() == {"closed": 0}
    missing = await http.post("/__simulator__/drain", json={"conversationId": "nope"})
    assert missing.status_code == 404


def test_command_line_behaviour_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from webchat_async.cli._simulator import add_simulator_arguments, simulator_options

    monkeypatch.delenv("WEBCHAT_SIMULATOR_ADMIN_TOKEN", raising=False)
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    assert simulator_options(parser.parse_args([])) == {
        "behaviour": Behaviour(),
        "admin_token": None,
        "console": True,
        "console_beyond_loopback": False,
        "seed": None,
    }
    args = parser.parse_args(
        [
            "--pages-without-next",
            "--no-text-pong",
            "--post-503-after-processing",
            "--reads-after-end",
            "served",
            "--handshake-after-end",
            "401",
        ]
    )
    assert simulator_options(args) == {
        "behaviour": Behaviour(
            next_links=False,
            answer_text_ping=False,
            post_503_after_processing=True,
            reads_after_end="served",
            handshake_after_end=401,
        ),
        "admin_token": None,
        "console": True,
        "console_beyond_loopback": False,
        "seed": None,
    }
    # The admin token comes from the environment only (a flag would show in `ps`).
    monkeypatch.setenv("WEBCHAT_SIMULATOR_ADMIN_TOKEN", "s3cret-token")
    assert simulator_options(parser.parse_args([]))["admin_token"] == "s3cret-token"


async def test_agent_says_many_in_many_chats_from_one_request(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    (one, s1), (two, s2) = await routed(http, simulator), await routed(http, simulator)
    body = {"action": "say_many", "text": "tick", "count": 3}
    answer = await http.post(f"{ADMIN}/agent", json={**body, "conversationIds": [one.id, two.id]})
    assert answer.json() == {"count": 3, "conversations": 2}
    for stream in (s1, s2):
        for _ in range(3):
            assert (await stream.message("standard"))["body"] == "tick"
    # What does not fit is refused before any message is said.
    before = len(simulator.state.conversations[one.id].messages)
    for bad, status in [
        ({**body, "conversationIds": [one.id, "nope"]}, 404),
        ({**body, "conversationIds": one.id}, 400),
        ({**body, "conversationIds": [one.id], "count": 0}, 400),
        ({**body, "action": "say", "conversationIds": [one.id]}, 400),
    ]:
        assert (await http.post(f"{ADMIN}/agent", json=bad)).status_code == status
    assert len(simulator.state.conversations[one.id].messages) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("agent", {"action": "say", "body": "x"}, "text"),  # the wrong name of issue 27
        ("agent", {"action": "say", "text": "x", "body": "y"}, "body"),
        ("agent", {"action": "say_many", "text": "x"}, "count"),
        ("agent", {"action": "say_many", "text": "x", "count": 1, "times": 2}, "times"),
        ("agent", {"action": "typing", "text": "x"}, "text"),
        ("agent", {"action": "request_media", "type": ["VIDEO"]}, "type"),
        ("agent", {"action": "end", "reason": "x"}, "reason"),
        ("many", {"action": "say_many", "text": "x", "count": 1}, "conversationIds"),
        ("many", {"action": "say_many", "text": "x", "count": 1, "ids": []}, "conversationIds"),
        ("drain", {"conversation": "x"}, "conversation"),
    ],
)
async def test_admin_actions_refuse_missing_and_unknown_fields(
    simulator: Simulator, http: httpx.AsyncClient, path: str, body: dict[str, object], field: str
) -> None:
    guest = await create(http, simulator)
    url = {
        "agent": f"{ADMIN}/conversations/{guest.id}/agent",
        "many": f"{ADMIN}/agent",
        "drain": f"{ADMIN}/drain",
    }[path]
    before = len(simulator.state.conversations[guest.id].messages)
    answer = await http.post(url, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field and repr(field) in answer.json()["message"]
    assert len(simulator.state.conversations[guest.id].messages) == before  # nothing done


async def test_admin_say_refuses_a_text_that_is_not_a_string(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await create(http, simulator)
    answer = await http.post(
        f"{ADMIN}/conversations/{guest.id}/agent", json={"action": "say", "text": 5}
    )
    assert answer.status_code == 400 and "string" in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "delay", "n": 1}, "seconds"),  # a required argument left out
        ({"action": "delay", "seconds": 1, "count": 2}, "count"),
        ({"action": "rate_limit", "n": 1, "retryAfterSeconds": 2}, "retry_after_seconds"),
    ],
)
async def test_fault_actions_name_the_missing_or_unknown_field(
    simulator: Simulator, http: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    answer = await http.post(f"{ADMIN}/faults", json=body)
    assert answer.status_code == 400 and answer.json()["field"] == field, answer.text
    assert simulator.faults.pending() == {}  # refused: nothing armed


async def test_heartbeats_refuse_a_field(simulator: Simulator, http: httpx.AsyncClient) -> None:
    answer = await http.post(f"{ADMIN}/heartbeats", json={"count": 3})
    assert answer.status_code == 400 and answer.json()["field"] == "count"
    assert (await http.post(f"{ADMIN}/heartbeats")).status_code == 200
