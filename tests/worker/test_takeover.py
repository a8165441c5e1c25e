"""Takeover after a crash inside a handler: the new owner resumes from the committed
position, handles the interrupted event again, and does not repeat a send that was made;
the old owner, back from its pause, can neither send nor commit. Time is a fake clock: the
old worker's lease runs out when the test says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fleet_support import (
    CLOCKED_LEASE,
    Clock,
    CrashAfterReply,
    EchoRecorder,
    GatedStore,
    clocked_worker,
    guest_texts,
)

from webchat_async import Event, GuestMemberInfo, MessageReceived, WebChatApi
from webchat_async.simulator import Agent, Simulator
from webchat_async.worker import Chat, Fleet, LeaseLost, MemoryStore, Progress, Worker


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    pytest.importorskip("aiohttp")
    async with Simulator(port=0, heartbeat_interval=None, agent=Agent(greeting="hi")) as s:
        yield s


async def start_chat(store: MemoryStore, sim: Simulator, api: WebChatApi) -> str:
    started = await Fleet(store, api=api).start_chat(
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=GuestMemberInfo(display_name="Bot"),
    )
    return started.conversation_id


async def test_a_reply_posted_before_the_crash_is_not_posted_again_by_the_new_owner(
    sim: Simulator,
) -> None:
    clock = Clock(0.0)
    store = GatedStore(clock)
    echo = EchoRecorder()
    dies = CrashAfterReply(echo)  # replies to "one", then stops before its commit

    async with WebChatApi(base_url=sim.base_url) as api:
        async with clocked_worker(dies, store, clock, "A") as a:
            cid = await start_chat(store, sim, api)
            await echo.wait(lambda: guest_texts(sim, cid) == ["echo: hi"])
            await sim.agent_say(cid, "one")
            await asyncio.wait_for(dies.crashed.wait(), 20)
            assert guest_texts(sim, cid) == ["echo: hi", "echo: one"]

            clock.now += CLOCKED_LEASE + 1  # A's lease runs out: it is paused past it
            async with clocked_worker(echo, store, clock, "B") as b:
                await b.wait_for(lambda w: cid in w.chats, timeout=20)
                # B handles "one" again: the reply A made is found, not posted again.
                await echo.wait(lambda: sum(1 for c, _, w, e in echo.handled
                                            if w == "B" and isinstance(e, MessageReceived)
                                            and e.message.body == "one") == 1)  # fmt: skip
                await sim.agent_say(cid, "two")
                await echo.wait(lambda: "echo: two" in guest_texts(sim, cid))

                dies.hold.set()  # A comes back: its send is refused, its commit fenced
                await a.wait_for(lambda w: cid not in w.chats, timeout=20)
                assert len(dies.late) == 1
                assert guest_texts(sim, cid) == ["echo: hi", "echo: one", "echo: two"]
                status = await store.status()
                assert [(c.owner, c.token) for c in status.chats] == [("B", 2)]
                assert status.counters["takeovers"] == 1


async def test_a_send_recorded_but_never_posted_is_posted_once_by_the_new_owner(
    sim: Simulator,
) -> None:
    clock = Clock(0.0)
    store = GatedStore(clock)
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api:
        async with clocked_worker(echo, store, clock, "A") as a:
            cid = await start_chat(store, sim, api)
            await echo.wait(lambda: guest_texts(sim, cid) == ["echo: hi"])
            store.pause_after_record = True  # A stops between recording and posting
            await sim.agent_say(cid, "one")
            await asyncio.wait_for(store.paused.wait(), 20)

            clock.now += CLOCKED_LEASE + 1
            async with clocked_worker(echo, store, clock, "B") as b:
                await b.wait_for(lambda w: cid in w.chats, timeout=20)
                await echo.wait(lambda: guest_texts(sim, cid) == ["echo: hi", "echo: one"])
                store.resume.set()  # A resumes just before its POST: refused locally
                await a.wait_for(lambda w: cid not in w.chats, timeout=20)
                await sim.agent_say(cid, "two")
                await echo.wait(lambda: "echo: two" in guest_texts(sim, cid))
                assert guest_texts(sim, cid) == ["echo: hi", "echo: one", "echo: two"]


async def test_a_handler_error_is_counted_and_the_chat_goes_on(sim: Simulator) -> None:
    store = MemoryStore()
    echo = EchoRecorder()

    async def flaky(chat: Chat, event: Event) -> None:
        if isinstance(event, MessageReceived) and event.message.body == "boom":
            raise RuntimeError("handler bug")
        await echo(chat, event)

    async with WebChatApi(base_url=sim.base_url) as api:
        async with Worker(flaky, store=store, lease=30.0) as w:
            cid = await start_chat(store, sim, api)
            await echo.wait(lambda: guest_texts(sim, cid) == ["echo: hi"])
            await sim.agent_say(cid, "boom")
            await sim.agent_say(cid, "after")
            await echo.wait(lambda: "echo: after" in guest_texts(sim, cid))
            assert cid in w.chats
    assert store.counters["handler_errors"] == 1
    assert guest_texts(sim, cid) == ["echo: hi", "echo: after"]


async def test_stop_hands_every_chat_to_the_other_worker_at_once(sim: Simulator) -> None:
    store = MemoryStore()
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api:
        a = Worker(echo, store=store, lease=60.0, worker_id="A", concurrency=3)
        async with a:
            cids = [await start_chat(store, sim, api) for _ in range(3)]
            await a.wait_for(lambda w: len(w.chats) == 3, timeout=20)
            async with Worker(echo, store=store, lease=60.0, worker_id="B") as b:
                a.stop()  # what SIGTERM does
                # No lease has to run out (60 s): the chats move as soon as A lets go.
                await b.wait_for(lambda w: set(w.chats) == set(cids), timeout=20)
                assert store.counters["handovers"] == 3
                assert store.counters["takeovers"] == 0  # handed, not taken
                for cid in cids:
                    await sim.agent_say(cid, "after")
                await echo.wait(lambda: all("echo: after" in guest_texts(sim, c) for c in cids))
        for cid in cids:
            assert guest_texts(sim, cid) == ["echo: hi", "echo: after"]


async def test_a_fenced_commit_from_a_stale_token_changes_nothing() -> None:
    store = MemoryStore()
    await store.add_chat("c", "{}", "http://x", reserve=1)
    first = await store.claim("c", "A", ttl=0.0)
    assert first is not None
    second = await store.claim("c", "B", ttl=60)
    assert second is not None
    with pytest.raises(LeaseLost):
        await store.commit("c", first.token, Progress(saved="{}", position="x"), ttl=60)
    third = await store.claim("c", "C", ttl=60)
    assert third is None  # still B's


async def test_a_dead_workers_chats_are_shared_by_load_among_the_live_ones(
    sim: Simulator,
) -> None:
    clock = Clock(0.0)
    store = MemoryStore(clock=clock)
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api:
        cids = [await start_chat(store, sim, api) for _ in range(10)]
        # A worker "Z" held them all and died: its heartbeat and leases run out together.
        await store.register("Z", ttl=CLOCKED_LEASE, concurrency=100, host="h", pid=1)
        for cid in cids:
            assert await store.claim(cid, "Z", ttl=CLOCKED_LEASE) is not None
        clock.now += CLOCKED_LEASE + 0.001

        def live(name: str) -> Worker:
            # Scans every 0.3 s of real time; the fake clock stays put, so every chat is
            # younger than a scan interval and each worker takes only its fair share.
            return Worker(echo, store=store, lease=CLOCKED_LEASE, scan_interval=0.3, worker_id=name,
                          clock=clock)  # fmt: skip

        for name in ("A", "B"):  # both live before either looks
            await store.register(name, ttl=CLOCKED_LEASE, concurrency=100, host="h", pid=1)
        async with live("A") as a, live("B") as b:
            await a.wait_for(lambda w: len(w.chats) == 5, timeout=20)
            await b.wait_for(lambda w: len(w.chats) == 5, timeout=20)
            assert (len(a.chats), len(b.chats)) == (5, 5)
            assert set(a.chats) | set(b.chats) == set(cids)
            assert store.counters["takeovers"] == 10
