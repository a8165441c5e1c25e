"""A worker holds chats started by a fleet, handles each event once, commits as it goes,
and removes a chat when it ends; on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fleet_support import EchoRecorder, guest_texts

from webchat_async import GuestMemberInfo, WebChatApi
from webchat_async.simulator import Agent, Simulator
from webchat_async.worker import Fleet, MemoryStore, SessionStore, Worker


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    pytest.importorskip("aiohttp")
    async with Simulator(port=0, heartbeat_interval=None, agent=Agent(greeting="hi")) as s:
        yield s


async def start(fleet: Fleet, sim: Simulator) -> str:
    started = await fleet.start_chat(
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=GuestMemberInfo(display_name="Bot"),
    )
    return started.conversation_id


async def test_each_agent_message_is_answered_once_and_the_chat_is_removed_at_its_end(
    store: SessionStore, sim: Simulator
) -> None:
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api:
        fleet = Fleet(store, api=api)
        async with Worker(echo, store=store, lease=5.0) as worker:
            started = await fleet.start_chat(
                organization_id=sim.organization_id,
                deployment_id=sim.deployment_id,
                member_info=GuestMemberInfo(display_name="Bot"),
            )
            assert started.worker_id == worker.id
            cid = started.conversation_id
            await echo.wait(lambda: guest_texts(sim, cid) == ["echo: hi"])
            for text in ("one", "two", "three"):
                await sim.agent_say(cid, text)
            await echo.wait(lambda: len(guest_texts(sim, cid)) == 4)
            await sim.agent_end(cid)
            await worker.wait_for(lambda w: cid not in w.chats, timeout=20)
            status = await store.status()
        assert guest_texts(sim, cid) == ["echo: hi", "echo: one", "echo: two", "echo: three"]
        assert status.chats == ()
        assert status.counters["finished"] == 1
        keys = [key for c, key, _, _ in echo.handled if c == cid and not key.startswith("~")]
        assert len(keys) == len(set(keys))  # no event handled twice by one owner


async def test_a_chat_whose_saved_session_cannot_be_read_is_removed_not_fatal() -> None:
    store = MemoryStore()
    echo = EchoRecorder()
    async with Worker(echo, store=store, lease=30.0, scan_interval=0.01) as worker:
        await store.add_chat("broken", "{not json", "http://127.0.0.1:9", reserve=1)
        await worker.wait_for(lambda w: store.counters["finished"] == 1, timeout=20)
        assert worker.chats == ()
    assert (await store.status()).chats == ()
