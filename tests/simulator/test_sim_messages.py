"""The messages endpoints: cursors, order, page size, validation, sends and typing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sim_wire import Guest, Stream, kind, routed
from test_sim_rest_errors import assert_error

from webchat_async.simulator import Agent, Simulator


@pytest.fixture
async def quiet() -> AsyncIterator[Simulator]:
    """A simulator whose agent greets but never answers."""
    async with Simulator(agent=Agent(), heartbeat_interval=None) as sim:
        yield sim


async def _quiet(simulator: Simulator, http: httpx.AsyncClient) -> tuple[Guest, Stream, list[str]]:
    """A routed conversation with a silent agent and 5 guest messages; returns all ids."""
    guest, stream = await routed(http, simulator)
    for i in range(5):
        assert (await guest.send(f"m{i}")).status_code == 200
    ids = [m.id for m in simulator.state.conversations[guest.id].messages]
    assert all(ids)
    return guest, stream, [i for i in ids if i is not None]


async def test_after_returns_exactly_the_later_messages(quiet: Simulator) -> None:
    async with httpx.AsyncClient(base_url=quiet.base_url) as http:
        guest, stream, ids = await _quiet(quiet, http)
        # member-join, greeting, m0..m4
        assert len(ids) == 7
        for i, message_id in enumerate(ids):
            page = (await guest.get("/messages", after=message_id)).json()
            assert [m["id"] for m in page["entities"]] == ids[i + 1 :]
        await stream.close()


async def test_paging_ascending_and_descending(quiet: Simulator) -> None:
    async with httpx.AsyncClient(base_url=quiet.base_url) as http:
        await _check_paging(quiet, http)


async def _check_paging(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream, ids = await _quiet(simulator, http)
    base = f"{guest.path}/messages"
    first = (await guest.get("/messages", maxResults=3)).json()
    assert first["pageSize"] == 3
    assert [m["id"] for m in first["entities"]] == ids[:3]
    assert first["next"] == f"{base}?after={ids[2]}&sortOrder=ascending&maxResults=3"
    assert "previousPage" not in first
    assert first["selfUri"] == f"{base}?maxResults=3"
    second = (await http.get(first["next"], headers=guest.auth)).json()
    assert [m["id"] for m in second["entities"]] == ids[3:6]
    assert second["previousPage"] == f"{base}?before={ids[3]}&sortOrder=ascending&maxResults=3"
    back = (await http.get(second["previousPage"], headers=guest.auth)).json()
    assert [m["id"] for m in back["entities"]] == ids[:3]
    third = (await http.get(second["next"], headers=guest.auth)).json()
    assert [m["id"] for m in third["entities"]] == ids[6:]
    assert "next" not in third

    newest = (await guest.get("/messages", sortOrder="descending", maxResults=4)).json()
    assert [m["id"] for m in newest["entities"]] == ids[::-1][:4]
    assert newest["next"] == f"{base}?before={ids[3]}&sortOrder=descending&maxResults=4"
    assert "previousPage" not in newest
    older = (await http.get(newest["next"], headers=guest.auth)).json()
    assert [m["id"] for m in older["entities"]] == ids[2::-1]
    assert "next" not in older
    between = (await guest.get("/messages", after=ids[1], before=ids[4])).json()
    assert [m["id"] for m in between["entities"]] == ids[2:4]
    default = (await guest.get("/messages")).json()
    # pageSize is the number of entities on the page, not the maxResults asked for.
    assert default["pageSize"] == len(default["entities"]) == len(ids)
    message = default["entities"][-1]
    assert message["conversation"]["id"] == guest.id
    assert message["selfUri"] == f"{base}/{ids[-1]}"
    assert (await guest.get(f"/messages/{ids[-1]}")).json() == message
    await stream.close()


async def test_messages_query_validation(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    assert_error(await guest.get("/messages", maxResults=101), 400, "invalid.value", "maxResults")
    assert_error(await guest.get("/messages", maxResults=0), 400, "invalid.value", "maxResults")
    assert_error(await guest.get("/messages", sortOrder="up"), 400, "invalid.value", "sortOrder")
    assert_error(await guest.get("/messages", after="nope"), 400, "invalid.value", "after")
    assert_error(await guest.get("/messages", before="nope"), 400, "invalid.value", "before")
    await stream.close()


async def test_send_validation(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest, stream = await routed(http, simulator)
    before = len(simulator.state.conversations[guest.id].messages)
    assert_error(await guest.send("x" * 4001), 400, "invalid.value", "body")
    path = f"{guest.path}/members/{guest.member_id}/messages"
    assert_error(await http.post(path, headers=guest.auth), 400, "invalid.value", "body")
    assert_error(await http.post(path, json={}, headers=guest.auth), 400, "invalid.value", "body")
    response = await http.post(path, content=b"{nope", headers=guest.auth)
    assert_error(response, 400, "bad.request")
    assert_error(await guest.send("x", bodyType="member-join"), 400, "invalid.value", "bodyType")
    assert len(simulator.state.conversations[guest.id].messages) == before
    exactly = await guest.send("y" * 4000)
    assert exactly.status_code == 200
    notice = await guest.send("fyi", bodyType="notice")
    assert notice.json()["bodyType"] == "notice"
    await stream.close()


async def test_sends_before_the_stream_is_attached_are_refused(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    from sim_wire import create

    guest = await create(http, simulator)
    assert_error(await guest.send("early"), 400, "chat.error.conversation.state")
    typing = await http.post(f"{guest.path}/members/{guest.member_id}/typing", headers=guest.auth)
    assert_error(typing, 400, "chat.error.conversation.state")
    assert simulator.state.conversations[guest.id].messages == []


async def test_typing_tolerates_the_official_sdk_null_body(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    response = await http.post(
        f"{guest.path}/members/{guest.member_id}/typing",
        content=b"null",
        headers={**guest.auth, "Content-Type": "application/json", "purecloud-sdk": "260.0.0"},
    )
    assert response.status_code == 200
    typing = response.json()
    assert typing["sender"]["id"] == guest.member_id
    assert typing["conversation"]["id"] == guest.id
    assert typing["timestamp"].endswith("Z")
    frame = await stream.next()
    assert kind(frame) == "typing-indicator"
    assert frame["eventBody"]["id"] == typing["id"]
    assert frame["eventBody"]["sender"] == {"id": guest.member_id}
    await stream.close()


async def test_messages_while_detached_are_not_replayed(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest, stream = await routed(http, simulator)
    await stream.close()
    await simulator.wait_sockets(guest.id, 0)
    missed = await simulator.agent_say(guest.id, "while you were away")
    again = await guest.connect()
    marker = await simulator.agent_say(guest.id, "after reconnect")
    first = await again.next()
    assert first["eventBody"]["id"] == marker.id
    page = (await guest.get("/messages", after=missed.id)).json()
    assert [m["id"] for m in page["entities"]] == [marker.id]
    assert (await guest.get(f"/messages/{missed.id}")).json()["body"] == "while you were away"
    await again.close()
