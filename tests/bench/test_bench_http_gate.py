"""The request gate of ``HttpClient``: at most ``max_connections`` requests in the pool.

Added with the benchmarks (``benchmarks/many_sessions.py`` found httpcore's pool quadratic
in the number of waiting requests); respx replaces the pool itself here, so nothing but
the gate limits how many requests are in flight at once.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

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


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="no asyncio.timeout: the wait is asyncio.wait_for's"
)
@respx.mock
async def test_waiting_at_the_gate_starts_no_task_per_request() -> None:
    """``asyncio.wait_for`` ran each wait in a task of its own before Python 3.12: at
    1,000 chats, 900 extra tasks. The wait now runs in the caller's task."""
    keeper = Gatekeeper(full_at=LIMIT)
    respx.get(URL).mock(side_effect=keeper)
    client = HttpClient(max_retries=0)
    loop = asyncio.get_running_loop()
    created = 0

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    previous = loop.get_task_factory()
    loop.set_task_factory(counting_factory)
    count = LIMIT + 50
    try:
        tasks = [asyncio.create_task(_get(client)) for _ in range(count)]
        await asyncio.wait_for(keeper.full.wait(), 10)
        keeper.release.set()
        statuses = await asyncio.gather(*tasks)
    finally:
        loop.set_task_factory(previous)
        await client.aclose()
    assert statuses == [200] * count
    assert keeper.most == LIMIT
    # The callers' tasks and the one of the wait_for above: none for the 50 waits.
    assert created == count + 1
