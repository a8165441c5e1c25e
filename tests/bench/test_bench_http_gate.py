"""The request gate of ``HttpClient``: at most ``max_connections`` requests in the pool.

Added with the benchmarks (``benchmarks/many_sessions.py`` found httpcore's pool quadratic
in the number of waiting requests); respx replaces the pool itself here, so nothing but
the gate limits how many requests are in flight at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async._http import _LIMITS, HttpClient, _Gate
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


@respx.mock
async def test_waiting_at_the_gate_starts_no_task_per_request() -> None:
    """``asyncio.wait_for(semaphore.acquire())`` ran each wait in a task of its own before
    Python 3.12: at 1,000 chats, 900 extra tasks. The wait now runs in the caller's task
    (on 3.10 too: ``wait_for`` of a future, not of a coroutine, starts no task)."""
    keeper = Gatekeeper(full_at=LIMIT)
    respx.get(URL).mock(side_effect=keeper)
    client = HttpClient(max_retries=0)
    loop = asyncio.get_running_loop()
    created: list[str] = []

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        created.append(coro.__qualname__)
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
    # The callers' tasks (and before 3.12 the one of the wait_for above): none for the 50
    # waits (e8271bc: 50 more, running Semaphore.acquire).
    assert created.count("_get") == count
    assert set(created) <= {"_get", "Event.wait"}, set(created)


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 4),
    plans=st.lists(
        st.tuples(st.integers(0, 4), st.none() | st.integers(0, 8)), min_size=1, max_size=16
    ),
)
def test_the_gate_admits_at_most_its_size_in_arrival_order_and_loses_no_place(
    size: int, plans: list[tuple[int, int | None]]
) -> None:
    """Users enter, hold a place for a few loop turns and leave; some are cancelled at a
    given turn (waiting, holding, or just as a place is handed to them)."""

    async def scenario() -> None:
        gate = _Gate(size)
        inside = most = 0
        entered: list[int] = []

        async def user(number: int, hold: int) -> None:
            nonlocal inside, most
            await gate.enter(None)
            entered.append(number)
            inside += 1
            most = max(most, inside)
            try:
                for _ in range(hold):
                    await asyncio.sleep(0)
            finally:
                inside -= 1
                gate.leave()

        tasks = [asyncio.create_task(user(n, hold)) for n, (hold, _) in enumerate(plans)]
        for turn in range(10):
            for task, (_, cancel_at) in zip(tasks, plans, strict=True):
                if cancel_at == turn:
                    task.cancel()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks, return_exceptions=True)
        assert most <= size
        assert entered == sorted(entered)  # first come, first served
        assert gate.free == size and not gate._waiters  # every place came back
        never_cancelled = {n for n, (_, at) in enumerate(plans) if at is None}
        assert never_cancelled <= set(entered)  # nobody waits forever

    asyncio.run(scenario())
