"""Shared fixtures: a :class:`~webchat_async.simulator.Simulator` on 127.0.0.1, any port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import hypothesis
import pytest
import respx.mocks

# The SDK's own client sends through an aiohttp-based httpx transport (webchat_async/
# _transport.py), which respx's default mocker (httpcore's pool) never sees; the "httpx"
# mocker replaces the transport of any httpx client, so every `@respx.mock` still applies.
respx.mocks.DEFAULT_MOCKER = "httpx"

# Hypothesis's per-example deadline (200 ms) is a wall-clock check: on a loaded machine a
# pure property test failed it once at 472 ms (its next run: 1.5 ms). Time is no part of
# what the property tests assert (timing goals live in benchmarks/), so no deadline.
hypothesis.settings.register_profile("webchat", deadline=None)
hypothesis.settings.load_profile("webchat")

if TYPE_CHECKING:
    from webchat_async.simulator import Simulator


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A started simulator (heartbeats off, no delays); stopped after the test."""
    # Imported here: the simulator needs the optional aiohttp; tests that use it skip
    # without it, the others do not care.
    pytest.importorskip("aiohttp")
    from webchat_async.simulator import Simulator

    async with Simulator(port=0, heartbeat_interval=None) as sim:
        yield sim
