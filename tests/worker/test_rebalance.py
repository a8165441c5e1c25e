"""A worker that joins while the others hold every chat gets its share of them, handed
over the way a stopping worker hands its chats over (after the event, committed, released
to the least loaded worker); a fleet at equal load moves nothing; every agent message is
answered once across a rebalance. On both stores; waits are for states (scans counted by
the workers), never sleeps."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from fleet_support import TIMEOUT, Clock, EchoRecorder, guest_texts

from webchat_async import Event, GuestMemberInfo, MessageReceived, WebChatApi
from webchat_async.simulator import Agent, Simulator
from webchat_async.worker import Chat, Fleet, MemoryStore, SessionStore, Worker
from webchat_async.worker._cli import add_commands

SCAN = 0.05  # seconds between scans: loop time, so the test runs many of them quickly


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    pytest.importorskip("aiohttp")
    async with Simulator(port=0, heartbeat_interval=None, agent=Agent(greeting="hi")) as s:
        yield s


def make(handler: EchoRecorder, store: SessionStore, name: str, **kwargs: object) -> Worker:
    return Worker(
        handler,
        store=store,
        lease=5.0,
        scan_interval=SCAN,
        worker_id=name,
        **kwargs,  # type: ignore[arg-type]
    )


async def start_chats(store: SessionStore, sim: Simulator, api: WebChatApi, n: int) -> list[str]:
    fleet = Fleet(store, api=api)
    cids = []
    for i in range(n):
        started = await fleet.start_chat(
            organization_id=sim.organization_id,
            deployment_id=sim.deployment_id,
            member_info=GuestMemberInfo(display_name=f"Guest {i}"),
        )
        cids.append(started.conversation_id)
    return cids


async def scans_pass(workers: list[Worker], n: int) -> None:
    """Return once every worker made ``n`` more scans (each one sees the others' moves)."""
    targets = [(w, w.scans + n) for w in workers]
    for w, target in targets:
        await w.wait_for(lambda w, t=target: w.scans >= t, timeout=TIMEOUT)  # type: ignore[misc]


async def all_answered_hi(echo: EchoRecorder, sim: Simulator, cids: list[str]) -> None:
    await echo.wait(lambda: all(guest_texts(sim, c) == ["echo: hi"] for c in cids))


def held(workers: list[Worker]) -> list[int]:
    return [len(w.chats) for w in workers]


async def test_a_late_worker_gets_its_fair_share_and_the_fleet_then_stays_put(
    store: SessionStore, sim: Simulator
) -> None:
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api, contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(make(echo, store, "a"))
        b = await stack.enter_async_context(make(echo, store, "b"))
        cids = await start_chats(store, sim, api, 12)
        await all_answered_hi(echo, sim, cids)
        # Placement makes it 6 and 6, or 7 and 5 when a claim races the next placement.
        await scans_pass([a, b], 3)
        assert sorted(held([a, b])) in ([6, 6], [5, 7])
        before = (await store.status()).counters.get("handovers", 0)
        assert before == a.rebalanced + b.rebalanced == 0
        late = await stack.enter_async_context(make(echo, store, "late"))
        await late.wait_for(lambda w: len(w.chats) >= 4, timeout=TIMEOUT)
        await scans_pass([a, b, late], 3)
        assert held([a, b, late]) == [4, 4, 4]
        assert a.rebalanced + b.rebalanced == 4 and late.rebalanced == 0
        # Nothing moves afterwards, however many scans pass.
        handovers = (await store.status()).counters.get("handovers", 0)
        await scans_pass([a, b, late], 20)
        assert held([a, b, late]) == [4, 4, 4]
        assert (await store.status()).counters.get("handovers", 0) == handovers == 4
        # Every chat is held by exactly one worker; none was lost or answered again.
        owned = [c for w in (a, b, late) for c in w.chats]
        assert sorted(owned) == sorted(cids)
        assert all(guest_texts(sim, c) == ["echo: hi"] for c in cids)


async def test_three_busy_workers_share_with_a_fourth_within_the_slack(
    store: SessionStore, sim: Simulator
) -> None:
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api, contextlib.AsyncExitStack() as stack:
        first = [await stack.enter_async_context(make(echo, store, f"w{i}")) for i in range(3)]
        cids = await start_chats(store, sim, api, 30)  # 10 each; fair with four: 7 or 8
        await all_answered_hi(echo, sim, cids)
        late = await stack.enter_async_context(make(echo, store, "late", rebalance_slack=2))
        await late.wait_for(lambda w: len(w.chats) >= 7 - 2, timeout=TIMEOUT)
        everyone = [*first, late]
        await scans_pass(everyone, 5)
        loads = held(everyone)
        assert sum(loads) == 30
        assert max(loads) - min(loads) <= 2 + 1
        assert 7 - 2 <= loads[-1] <= 8
        assert late.rebalanced == 0  # the receiver hands nothing back


async def test_workers_at_equal_or_near_equal_load_pass_nothing_back_and_forth(
    store: SessionStore, sim: Simulator
) -> None:
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api, contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(make(echo, store, "a"))
        b = await stack.enter_async_context(make(echo, store, "b"))
        cids = await start_chats(store, sim, api, 7)  # 4 and 3: one apart
        await all_answered_hi(echo, sim, cids)
        await scans_pass([a, b], 3)  # placement can race (5 and 2): let that settle first
        loads = held([a, b])
        assert sorted(loads) == [3, 4]
        moved = (await store.status()).counters.get("handovers", 0)
        assert moved == a.rebalanced + b.rebalanced <= 1
        await scans_pass([a, b], 25)
        assert held([a, b]) == loads
        assert a.rebalanced + b.rebalanced == moved
        assert (await store.status()).counters.get("handovers", 0) == moved


async def test_with_rebalancing_off_a_late_worker_stays_idle(
    store: SessionStore, sim: Simulator
) -> None:
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api, contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(make(echo, store, "a", rebalance=False))
        cids = await start_chats(store, sim, api, 6)
        await all_answered_hi(echo, sim, cids)
        late = await stack.enter_async_context(make(echo, store, "late", rebalance=False))
        await scans_pass([a, late], 10)
        assert held([a, late]) == [6, 0]


async def test_every_agent_message_is_answered_once_across_a_rebalance(
    store: SessionStore, sim: Simulator
) -> None:
    echo = EchoRecorder()
    lines = [f"line {i}" for i in range(6)]
    async with WebChatApi(base_url=sim.base_url) as api, contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(make(echo, store, "a"))
        cids = await start_chats(store, sim, api, 8)
        await all_answered_hi(echo, sim, cids)

        async def talk(cid: str) -> None:
            for line in lines:
                await sim.agent_say(cid, line)

        # The agents talk while the late worker joins: some chats are handed over busy
        # (after their event, committed), some idle, some while their new owner resumes.
        talking = asyncio.gather(*(talk(c) for c in cids))
        late = await stack.enter_async_context(make(echo, store, "late"))
        await talking
        await late.wait_for(lambda w: len(w.chats) >= 4, timeout=TIMEOUT)
        want = ["echo: hi", *(f"echo: {line}" for line in lines)]
        await echo.wait(lambda: all(len(guest_texts(sim, c)) >= len(want) for c in cids))
        await scans_pass([a, late], 3)
        assert held([a, late]) == [4, 4]
        assert a.rebalanced == 4
        for cid in cids:
            assert guest_texts(sim, cid) == want, cid
        # The moved chats go on with their new owner: one more line each, answered once.
        moved = set(late.chats)
        for cid in cids:
            await sim.agent_say(cid, "after")
        await echo.wait(lambda: all(len(guest_texts(sim, c)) > len(want) for c in cids))
        for cid in cids:
            assert guest_texts(sim, cid) == [*want, "echo: after"], cid
        after = {c: w for c, _, w, e in echo.handled if getattr(e, "message", None)
                 and e.message.body == "after"}  # fmt: skip
        assert {c for c, w in after.items() if w == "late"} == moved


class GatedEcho(EchoRecorder):
    """Echoes, but holds the handler of an agent message ``slow`` until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.holding: set[str] = set()

    async def __call__(self, chat: Chat, event: Event) -> None:
        if (
            isinstance(event, MessageReceived)
            and event.message.body == "slow"
            and not chat.is_own(event.message)
        ):
            self.holding.add(chat.conversation_id)
            async with self._changed:  # wakes those waiting on ``holding``
                self._changed.notify_all()
            await self.gate.wait()
        await super().__call__(chat, event)


async def test_idle_chats_move_first_and_a_busy_one_only_after_its_event(
    store: SessionStore, sim: Simulator
) -> None:
    echo = GatedEcho()
    async with WebChatApi(base_url=sim.base_url) as api, contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(make(echo, store, "a"))
        cids = await start_chats(store, sim, api, 4)
        await all_answered_hi(echo, sim, cids)
        busy = cids[:2]
        for cid in busy:
            await sim.agent_say(cid, "slow")
        # Two handlers now hold their event; the other two chats are idle.
        await echo.wait(lambda: echo.holding == set(busy))
        late = await stack.enter_async_context(make(echo, store, "late"))
        await late.wait_for(lambda w: len(w.chats) == 2, timeout=TIMEOUT)
        assert set(late.chats) == set(cids[2:])  # the idle ones
        await scans_pass([a, late], 5)
        assert a.rebalanced == 2 and set(a.chats) == set(busy)
        echo.gate.set()
        await echo.wait(lambda: all(len(guest_texts(sim, c)) == 2 for c in busy))
        await scans_pass([a, late], 5)
        assert held([a, late]) == [2, 2] and a.rebalanced == 2
        for cid in busy:
            assert guest_texts(sim, cid) == ["echo: hi", "echo: slow"]


async def test_a_busy_chat_moves_after_its_event_committed_and_no_round_overlaps(
    store: SessionStore, sim: Simulator
) -> None:
    echo = GatedEcho()
    async with WebChatApi(base_url=sim.base_url) as api, contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(make(echo, store, "a"))
        cids = await start_chats(store, sim, api, 4)
        await all_answered_hi(echo, sim, cids)
        for cid in cids:
            await sim.agent_say(cid, "slow")
        await echo.wait(lambda: echo.holding == set(cids))
        late = await stack.enter_async_context(make(echo, store, "late"))
        await a.wait_for(lambda w: w.rebalanced == 2, timeout=TIMEOUT)
        # Every handler still holds its event: nothing has moved, and the round in flight
        # is not counted again, however many scans pass.
        await scans_pass([a, late], 10)
        assert held([a, late]) == [4, 0] and a.rebalanced == 2
        echo.gate.set()
        await late.wait_for(lambda w: len(w.chats) == 2, timeout=TIMEOUT)
        await echo.wait(lambda: all(len(guest_texts(sim, c)) == 2 for c in cids))
        await scans_pass([a, late], 5)
        assert held([a, late]) == [2, 2] and a.rebalanced == 2
        for cid in cids:  # committed before the hand-over: not handled, nor answered, again
            assert guest_texts(sim, cid) == ["echo: hi", "echo: slow"]
        slow = [c for c, _, _, e in echo.handled if getattr(e, "message", None)
                and e.message.body == "slow"]  # fmt: skip
        assert sorted(slow) == sorted(cids)


async def test_a_handed_over_chat_keeps_its_lease_while_its_handler_runs_past_it(
    sim: Simulator,
) -> None:
    # Lease time is a fake clock moved by the test; renewals are made by the test too.
    clock = Clock(0.0)
    store = MemoryStore(clock=clock)
    echo = GatedEcho()
    lease = 100.0

    def worker(name: str) -> Worker:
        return Worker(echo, store=store, lease=lease, scan_interval=SCAN, worker_id=name,
                      clock=clock)  # fmt: skip

    async with WebChatApi(base_url=sim.base_url) as api, contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(worker("a"))
        cids = await start_chats(store, sim, api, 4)
        await all_answered_hi(echo, sim, cids)
        for cid in cids:
            await sim.agent_say(cid, "slow")
        await echo.wait(lambda: echo.holding == set(cids))
        late = await stack.enter_async_context(worker("late"))
        await a.wait_for(lambda w: w.rebalanced == 2, timeout=TIMEOUT)
        # The handlers run for three leases; the worker renews as it does every third.
        for _ in range(9):
            clock.now += lease / 3
            await a.renew()
            await late.renew()
        echo.gate.set()
        await late.wait_for(lambda w: len(w.chats) == 2, timeout=TIMEOUT)
        await echo.wait(lambda: all(len(guest_texts(sim, c)) == 2 for c in cids))
        # Handed over, not taken over after a lost lease: every event committed once.
        assert store.counters["takeovers"] == 0
        assert store.counters["handovers"] == 2
        for cid in cids:
            assert guest_texts(sim, cid) == ["echo: hi", "echo: slow"]


def test_the_worker_command_takes_the_rebalancing_options() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    default = parser.parse_args(["worker", "m:h"])
    assert default.rebalance is True and default.rebalance_slack == 1
    off = parser.parse_args(["worker", "m:h", "--no-rebalance", "--rebalance-slack", "3"])
    assert off.rebalance is False and off.rebalance_slack == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["worker", "m:h", "--rebalance-slack", "0"])


def test_a_slack_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="rebalance_slack"):
        Worker(EchoRecorder(), rebalance_slack=0)
