"""Faithful by default: where the simulator used to be kinder or stricter than the service
(docs/protocol.md#what-the-simulator-does-by-default)."""

from __future__ import annotations

import httpx
from sim_wire import create

from webchat_async.simulator import Simulator


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
