"""Fixtures of the fleet tests: a real Redis (see ``redis_support``), a store per test
under its own key prefix, and the simulator."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
from fleet_support import Clock
from redis_support import RedisUnavailable, redis_server, redis_store_at

from webchat_async.worker import MemoryStore, SessionStore

if TYPE_CHECKING:
    from webchat_async.worker import RedisStore


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL: ``WEBCHAT_REDIS_URL``, or a ``redis-server`` started for the session."""
    pytest.importorskip("redis")
    try:
        with redis_server() as url:
            yield url
    except RedisUnavailable as exc:
        if os.environ.get("WEBCHAT_REQUIRE_REDIS") == "1":
            pytest.fail(f"WEBCHAT_REQUIRE_REDIS=1 but {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def key_prefix() -> str:
    """A key prefix of this test alone."""
    return f"test-{secrets.token_hex(6)}:"


@pytest.fixture
async def redis_store(redis_url: str, key_prefix: str) -> AsyncIterator[RedisStore]:
    """A :class:`RedisStore` under this test's prefix (server clock)."""
    async with redis_store_at(redis_url, key_prefix) as store:
        yield store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[SessionStore]:
    """Each store in turn: the in-memory one and Redis."""
    if request.param == "memory":
        yield MemoryStore()
        return
    async with redis_store_at(request.getfixturevalue("redis_url"), key_prefix) as redis:
        yield redis


@pytest.fixture
def clock() -> Clock:
    """A fake clock, seconds, moved by the test."""
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def st(
    request: pytest.FixtureRequest, clock: Clock, key_prefix: str
) -> AsyncIterator[SessionStore]:
    """Each store in turn, on the test's fake ``clock``: the in-memory one and Redis."""
    if request.param == "memory":
        yield MemoryStore(clock=clock)
        return
    async with redis_store_at(request.getfixturevalue("redis_url"), key_prefix, clock) as s:
        yield s
