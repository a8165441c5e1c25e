"""Fixtures of the chaos and security suite, and its scale factor.

``WEBCHAT_CHAOS_SCALE`` (default 1) multiplies every count of the suite: the default run
stays fast, ``scripts/chaos.sh`` runs it ten times larger. Each fault test prints one
``CHAOS ...`` (or ``SECURITY ...``) line with its figures; run with ``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from webchat_async.simulator import Agent, Simulator

try:
    from chaos_support import SCALE  # read from WEBCHAT_CHAOS_SCALE
except ValueError as exc:  # not a positive integer
    raise pytest.UsageError(str(exc)) from None

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test of this directory carries the `chaos` marker (declared in pyproject).
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture
def scale() -> int:
    """The count multiplier from ``WEBCHAT_CHAOS_SCALE``."""
    return SCALE


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Records every call of the loop's exception handler; the test fails if there was one.

    "Task exception was never retrieved", "Event loop is closed" from a transport's
    finaliser and the like all go through this handler.
    """
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
        # Finalisers of abandoned tasks and transports report to the handler when collected.
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert seen == [], f"the loop exception handler was called: {seen!r}"


@pytest.fixture
async def sim(loop_errors: list[dict[str, Any]]) -> AsyncIterator[Simulator]:
    """A seeded simulator without heartbeats whose agent only greets (no echo replies)."""
    async with Simulator(port=0, heartbeat_interval=None, seed=1234, agent=Agent()) as simulator:
        yield simulator
