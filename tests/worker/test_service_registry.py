"""webchat_async.service.SessionRegistry on the simulator (issue 27, items 3-4): sessions by
conversation id, the shutdown modes, idle timeouts, and the worker store's leases so that a
chat is never live twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from loopback import start_guest

from webchat_async import Backoff, GuestSession, MessageReceived, SavedSession
from webchat_async.errors import SessionClosedError, SessionInUseError
from webchat_async.service import SessionRegistry
from webchat_async.simulator import Simulator
from webchat_async.worker import MemoryStore, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _open(saved: SavedSession) -> GuestSession:
    return await GuestSession.resume(saved, backoff=Backoff.none(), proxy=None)


async def _texts(registry: SessionRegistry, cid: str, last: str) -> list[str]:
    out: list[str] = []

    async def run() -> None:
        async for event in registry.get(cid).events():
            if isinstance(event, MessageReceived) and event.text is not None:
                out.append(event.text)
                if event.text == last:
                    return

    await asyncio.wait_for(run(), 10)
    return out


async def test_save_on_shutdown_then_the_next_registry_resumes_and_loses_nothing(
    simulator: Simulator, store: SessionStore
) -> None:
    async with SessionRegistry(store=store, shutdown="save") as first:
        session = await first.add(start_guest(simulator, "Ann"))
        cid = session.conversation_id
        assert cid in first and len(first) == 1
        await simulator.wait_routed(cid)
        await simulator.agent_say(cid, "one")
        assert (await _texts(first, cid, "one"))[-1] == "one"
    conversation = simulator.state.conversations[cid]
    assert not conversation.ended  # saved, not left
    await simulator.wait_sockets(cid, 0)
    await simulator.agent_say(cid, "while down")  # said while no process held the chat
    async with SessionRegistry(store=store, shutdown="leave") as second:
        assert await second.resume_all(_open) == [cid]
        assert await _texts(second, cid, "while down") == ["while down"]  # nothing again
    assert conversation.ended  # shutdown="leave"
    async with SessionRegistry(store=store) as third:
        assert await third.resume_all(_open) == []  # a chat that was left is gone


async def test_keep_closes_the_socket_leaves_the_chat_open_and_forgets_it(
    simulator: Simulator,
) -> None:
    store = MemoryStore()
    async with SessionRegistry(store=store, shutdown="keep") as registry:
        cid = (await registry.add(start_guest(simulator, "Ann"))).conversation_id
    assert not simulator.state.conversations[cid].ended
    assert (await store.scan(10)).claimable == []


async def test_a_chat_live_in_the_registry_is_never_resumed_twice(simulator: Simulator) -> None:
    async with SessionRegistry(shutdown="leave") as registry:
        session = await registry.add(start_guest(simulator, "Ann"))
        saved = session.save()
        with pytest.raises(SessionInUseError, match=r"registry\.get\(\)"):
            await registry.adopt(saved, _open)
        assert simulator.state.conversations[saved.conversation_id].socket_count == 1
        assert await registry.resume(saved.conversation_id) is session
    with pytest.raises(SessionClosedError):
        await registry.adopt(saved, _open)


async def test_another_process_cannot_resume_a_held_chat_until_its_lease_runs_out(
    simulator: Simulator,
) -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    one = SessionRegistry(store=store, owner="one", lease=30, idle_timeout=None)
    two = SessionRegistry(store=store, owner="two", lease=30, idle_timeout=None)
    async with one, two:
        cid = (await one.add(start_guest(simulator, "Ann"))).conversation_id
        with pytest.raises(SessionInUseError, match="another process"):
            await two.resume(cid, _open)
        assert await two.resume_all(_open) == []
        clock.now += 31  # "one" stopped renewing (it hung): its lease ran out
        assert await two.resume_all(_open) == [cid]
        await one.sweep()  # "one" sees the lease lost: closes its copy, does not leave
        assert cid not in one and cid in two
        conversation = simulator.state.conversations[cid]
        assert not conversation.ended
        await simulator.wait_sockets(cid, 1)


async def test_idle_sessions_leave_but_not_while_subscribed(simulator: Simulator) -> None:
    clock = Clock()
    async with SessionRegistry(idle_timeout=60, shutdown="keep", clock=clock) as registry:
        idle = (await registry.add(start_guest(simulator, "Ann"))).conversation_id
        watched = (await registry.add(start_guest(simulator, "Bob"))).conversation_id
        subscription = registry.subscribe(watched)
        clock.now += 61
        await registry.sweep()
        assert idle not in registry and simulator.state.conversations[idle].ended
        assert watched in registry
        subscription.close()
        clock.now += 30
        await registry.sweep()
        assert watched in registry  # idle for 30 s since its last subscriber left
        registry.get(watched)  # a use: the timeout starts again
        clock.now += 59
        await registry.sweep()
        assert watched in registry
        clock.now += 2
        await registry.sweep()
        assert watched not in registry


async def test_a_chat_that_ended_is_dropped(simulator: Simulator) -> None:
    store = MemoryStore()
    async with SessionRegistry(store=store) as registry:
        session = await registry.add(start_guest(simulator, "Ann"))
        cid = session.conversation_id
        await simulator.wait_routed(cid)
        await simulator.agent_end(cid)
        await asyncio.wait_for(_until_ended(session), 10)
        await registry.sweep()
        assert cid not in registry
        assert (await store.scan(10)).claimable == []


async def _until_ended(session: GuestSession) -> None:
    async for _ in session.events():
        pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shutdown": "pause"}, "shutdown"),
        ({"shutdown": "save"}, "store"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"lease": 0}, "lease"),
        ({"max_sessions": 0}, "max_sessions"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SessionRegistry(**kwargs)


async def test_max_sessions_is_a_bound(simulator: Simulator) -> None:
    async with SessionRegistry(shutdown="leave", max_sessions=1) as registry:
        await registry.add(start_guest(simulator, "Ann"))
        with pytest.raises(Exception, match="maximum"):
            await registry.add(start_guest(simulator, "Bob"))
        assert len(simulator.state.conversations) == 1  # refused before starting
