"""The request gate of ``HttpClient``: at most ``max_connections`` requests in the pool.

Added with the benchmarks (``benchmarks/many_sessions.py`` found httpcore's pool quadratic
in the number of waiting requests); respx replaces the pool itself here, so nothing but
the gate limits how many requests are in flight at once.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from webchat_async._http import _LIMITS, HttpClient
from webchat_async.errors import ApiTimeoutError

URL = "https://api.example.test/api/v2/webchat/settings"
LIMIT: int = _LIMITS.max_connections or 0


class Gatekeeper:
    """A respx side effect that holds every request until released, counting them."""

    def __init__(self, full_at: int) -> None:
        self.inside = 0
        self.most = 0
        self.full_at = full_at
        self.full = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.inside += 1
        self.most = max(self.most, self.inside)
        if self.inside >= self.full_at:
            self.full.set()
        await self.release.wait()
        self.inside -= 1
        return httpx.Response(200, json={})


async def _get(client: HttpClient) -> int:
    response = await client.request("GET", URL, path="/api/v2/webchat/settings")
    return response.status_code


@respx.mock
async def test_no_more_requests_in_flight_than_the_pool_has_connections() -> None:
    keeper = Gatekeeper(full_at=LIMIT)
    respx.get(URL).mock(side_effect=keeper)
    client = HttpClient()
    derived = client.derive(max_retries=0)  # shares the pool, so shares the gate
    try:
        tasks = [asyncio.create_task(_get(client if i % 2 else derived)) for i in range(LIMIT + 50)]
        await asyncio.wait_for(keeper.full.wait(), 10)
        keeper.release.set()
        statuses = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    finally:
        await client.aclose()
    assert statuses == [200] * (LIMIT + 50)
    assert keeper.most == LIMIT


@respx.mock
async def test_waiting_for_the_gate_longer_than_the_pool_timeout_is_a_timeout() -> None:
    keeper = Gatekeeper(full_at=LIMIT)
    respx.get(URL).mock(side_effect=keeper)
    client = HttpClient(timeout=httpx.Timeout(5.0, pool=0.05), max_retries=0)
    try:
        held = [asyncio.create_task(_get(client)) for _ in range(LIMIT)]
        await asyncio.wait_for(keeper.full.wait(), 10)
        with pytest.raises(ApiTimeoutError, match=r"within 0\.05 s \(pool timeout\)"):
            await _get(client)
        keeper.release.set()
        assert await asyncio.wait_for(asyncio.gather(*held), 10) == [200] * LIMIT
    finally:
        await client.aclose()
    assert keeper.most == LIMIT


@respx.mock
async def test_an_injected_client_is_not_gated() -> None:
    count = LIMIT + 10
    keeper = Gatekeeper(full_at=count)
    respx.get(URL).mock(side_effect=keeper)
    async with httpx.AsyncClient() as injected:
        client = HttpClient(injected)
        tasks = [asyncio.create_task(_get(client)) for _ in range(count)]
        await asyncio.wait_for(keeper.full.wait(), 10)
        keeper.release.set()
        assert await asyncio.wait_for(asyncio.gather(*tasks), 10) == [200] * count
        await client.aclose()
    assert keeper.most == count
