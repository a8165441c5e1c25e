"""Fixtures of the simulator tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

pytest.importorskip("aiohttp")

from webchat_async.simulator import Simulator


@pytest.fixture
async def http(simulator: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """A bare httpx client on the simulator's base URL."""
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:
        yield client
