"""Each ``Behaviour`` switch, on the wire (docs/protocol.md#unknowns). The SDK's guarantees
under each one are in tests/session/test_behaviours.py."""

from __future__ import annotations

import json

import attrs
import httpx
import pytest
import websockets
from sim_wire import create, routed

from webchat_async.simulator import Behaviour, Simulator


def test_behaviour_defaults_and_validation() -> None:
    default = Behaviour()
    assert default.next_links and default.answer_text_ping
    assert not default.post_503_after_processing
    assert default.reads_after_end == "refused" and default.handshake_after_end == 400
    with pytest.raises(ValueError):
        Behaviour(handshake_after_end=500)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Behaviour(reads_after_end="maybe")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Behaviour(next_links="no")  # type: ignore[arg-type]


async def test_pages_without_next(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    for n in range(4):
        await simulator.agent_say(guest.id, f"m{n}")
    page = (await guest.get("/messages", maxResults=2)).json()
    assert "next" in page
    simulator.behaviour = attrs.evolve(simulator.behaviour, next_links=False)
    page = (await guest.get("/messages", maxResults=2)).json()
    assert len(page["entities"]) == 2 and "next" not in page and "previousPage" not in page
    await stream.close()


async def test_text_ping_unanswered(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    simulator.behaviour = Behaviour(answer_text_ping=False)
    await stream.ws.send(json.dumps({"message": "ping"}))
    marker = await simulator.agent_say(guest.id, "marker")
    # The next frame is the marker: no pong came before it.
    frame = await stream.next()
    assert frame["eventBody"]["id"] == marker.id
    # Websocket-level pings are still answered (a live socket).
    await (await stream.ws.ping())
    await stream.close()


async def test_503_after_processing_stores_the_message(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    simulator.behaviour = Behaviour(post_503_after_processing=True)
    response = await guest.send("stored anyway")
    assert response.status_code == 503 and response.json()["code"] == "service.unavailable"
    echoed = await stream.message("standard", "stored anyway")
    stored = [m for m in simulator.conversations[guest.id].messages if m.body == "stored anyway"]
    assert [m.id for m in stored] == [echoed["id"]]
    await stream.close()


@pytest.mark.parametrize(("reads", "status"), [("refused", 400), ("served", 200)])
async def test_reads_after_the_end(
    simulator: Simulator, http: httpx.AsyncClient, reads: str, status: int
) -> None:
    simulator.behaviour = Behaviour(reads_after_end=reads)  # type: ignore[arg-type]
    guest, stream = await routed(http, simulator)
    await simulator.agent_end(guest.id)
    for suffix in ("/messages", "/members", f"/members/{guest.member_id}", "/mediarequests"):
        response = await guest.get(suffix)
        assert response.status_code == status, suffix
    if status == 400:
        assert response.json()["code"] == "chat.error.conversation.state"
    else:
        bodies = [m["bodyType"] for m in (await guest.get("/messages")).json()["entities"]]
        assert bodies[-1] == "member-leave"
    # Writes are refused either way.
    assert (await guest.send("too late")).status_code == 400
    await stream.close()


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "chat.error.conversation.state"), (401, "bad.credentials"), (404, "not.found")],
)
async def test_handshake_after_the_end(
    simulator: Simulator, http: httpx.AsyncClient, status: int, code: str
) -> None:
    simulator.behaviour = Behaviour(handshake_after_end=status)  # type: ignore[arg-type]
    guest = await create(http, simulator)
    stream = await guest.connect()
    await simulator.wait_routed(guest.id)
    await simulator.agent_end(guest.id)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await guest.connect()
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body or b"{}")["code"] == code
    await stream.close()
