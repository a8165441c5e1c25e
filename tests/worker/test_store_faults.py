"""The fleet when its Redis fails under it (issue 23): restarted empty, stalled for less
than a lease, stalled for longer. Each test runs its own ``redis-server`` (never the shared
one), workers in this process on it, and the simulator with a :class:`ScriptedAgent`, whose
next line comes only after the answer to the last: a lost answer leaves its chat open, a
doubled one shows in the guest's messages. Nothing waits a fixed time: each step waits for
what it needs (an answer count, a log record, the workers' chats), under a failure bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from fleet_support import watching
from redis_support import PrivateRedis, RedisUnavailable, private_redis

from webchat_async import Event, WebChatApi
from webchat_async.simulator import Simulator
from webchat_async.worker import Chat, Fleet, RedisStore, Worker
from webchat_async.worker._model import MESSAGING, WEBCHAT
from webchat_async.worker._scripted import ScriptedAgent, expected_answers, guest_lines, start_on
from webchat_async.worker.demo import echo

BOUND = 60.0  # seconds before a step is declared stuck (a failure, not a wait)
CHATS = 6
LINES = 12


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test alone (it is restarted and paused)."""
    pytest.importorskip("redis")
    pytest.importorskip("aiohttp")
    try:
        with private_redis() as server:
            yield server
    except RedisUnavailable as exc:
        if os.environ.get("WEBCHAT_REQUIRE_REDIS") == "1":
            pytest.fail(f"WEBCHAT_REQUIRE_REDIS=1 but {exc}")
        pytest.skip(str(exc))


class Answers:
    """Counts the guest's answers as the agent sees them; wakes a waiter at a count."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Event()

    def __call__(self, conversation_id: str) -> None:
        self.count += 1
        self._changed.set()

    async def reach(self, count: int) -> None:
        while self.count < count:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), BOUND)


class Fleetlet:
    """``workers`` in-process workers and a fleet on one Redis, the simulator, and
    ``chats`` chats of a scripted agent; the handler records every exception it sees."""

    def __init__(self, url: str, *, workers: int, lease: float, timeout: float) -> None:
        self.url = url
        self.answers = Answers()
        self.agent = ScriptedAgent(LINES, on_answer=self.answers)
        self.errors: list[BaseException] = []
        self.stores = [RedisStore.from_url(url, prefix="f:", timeout=timeout)
                       for _ in range(workers)]  # fmt: skip
        self.workers = [
            Worker(self.handler, store=store, lease=lease, worker_id=f"w{i}")
            for i, store in enumerate(self.stores)
        ]
        self.fleet_store = RedisStore.from_url(url, prefix="f:", timeout=timeout)
        self.ids: list[str] = []
        self.sim: Simulator | None = None

    async def handler(self, chat: Chat, event: Event) -> None:
        try:
            await echo(chat, event)
        except BaseException as exc:
            self.errors.append(exc)
            raise

    @contextlib.asynccontextmanager
    async def running(self, chats: int, *, mixed: bool = False) -> AsyncIterator[Fleetlet]:
        async with contextlib.AsyncExitStack() as stack:
            sim = await stack.enter_async_context(Simulator(port=0, agent=self.agent))
            self.agent.bind(sim)
            self.sim = sim
            api = await stack.enter_async_context(WebChatApi(base_url=sim.base_url))
            for store in [*self.stores, self.fleet_store]:
                stack.push_async_callback(store.aclose)
            for worker in self.workers:
                await stack.enter_async_context(worker)
            fleet = Fleet(self.fleet_store, api=api, reserve=5.0)
            kinds = (WEBCHAT, MESSAGING) if mixed else (WEBCHAT,)
            for i in range(chats):
                self.ids.append(await start_on(fleet, sim, kinds[i % len(kinds)], i))
            yield self

    async def held(self, predicate: Callable[[int], bool]) -> None:
        """Wait until the chats held over all workers satisfy ``predicate`` (checked
        whenever a worker takes or lets go of a chat: the last change is seen by the
        worker that made it)."""

        def total(_: Worker) -> bool:
            return predicate(sum(len(w.chats) for w in self.workers))

        waiters = [asyncio.ensure_future(w.wait_for(total)) for w in self.workers]
        try:
            await asyncio.wait_for(
                asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), BOUND
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if not total(self.workers[0]):
            raise AssertionError("the workers' chats never matched")

    async def finished(self) -> tuple[int, int, int]:
        """Wait for every chat to end (or the bound), then (lost, duplicated, orphaned)."""
        assert self.sim is not None
        sim = self.sim
        ends = asyncio.gather(*(sim.wait_ended(cid, None) for cid in self.ids))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ends, BOUND)
        for worker in self.workers:
            with contextlib.suppress(asyncio.TimeoutError):
                await worker.wait_for(lambda w: not w.chats, timeout=BOUND)
        status = await self.fleet_store.status(chat_limit=1000)
        want = expected_answers(LINES)
        lost = duplicated = orphaned = 0
        for cid in self.ids:
            conversation = sim.state.conversations[cid]
            said = collections.Counter(guest_lines(sim, cid))
            lost += sum(1 for text in want if said[text] == 0)
            duplicated += sum(n - 1 for n in said.values() if n > 1)
            duplicated += sum(n for text, n in said.items() if text not in want)
            if not (conversation.ended and said[want[-1]] >= 1):
                orphaned += 1
        return lost, duplicated, orphaned + len(status.chats)


@pytest.mark.parametrize("mixed", [False, True], ids=["webchat", "mixed"])
async def test_a_redis_restarted_empty_gets_the_workers_chats_back(
    own_redis: PrivateRedis, mixed: bool
) -> None:
    # Failed before the epoch marker: every chat orphaned (the store lost their records,
    # the workers dropped them as lost), nothing answered after the restart. Mixed
    # (issue 21): failed before the write-back kept each chat's protocol (a Web Messaging
    # chat came back as a Web Chat v2 one and was given up as unreadable).
    run = Fleetlet(own_redis.url, workers=2, lease=3.0, timeout=0.5)
    with watching("the store lost its state") as warned:
        async with run.running(CHATS, mixed=mixed):
            await run.held(lambda n: n == CHATS)
            await run.answers.reach(CHATS * LINES // 3)
            await asyncio.to_thread(own_redis.restart_empty)
            await asyncio.wait_for(warned.seen.wait(), BOUND)
            assert await run.finished() == (0, 0, 0)
            assert run.errors == []  # the handler never saw the store's trouble
    # One warning per worker that held chats, saying what it wrote back.
    assert 1 <= len(warned.records) <= 2, warned.records
    assert all("wrote back" in r for r in warned.records)


async def test_the_workers_are_described_again_after_a_restart(own_redis: PrivateRedis) -> None:
    # Failed before: `status` showed concurrency 0, host '', pid 0 after the restart.
    run = Fleetlet(own_redis.url, workers=1, lease=1.5, timeout=0.5)
    with watching("the store lost its state") as warned:
        async with run.running(1):
            await run.held(lambda n: n == 1)
            await asyncio.to_thread(own_redis.restart_empty)
            # The write-back is one script: once it is logged, the store has it all.
            await asyncio.wait_for(warned.seen.wait(), BOUND)
            status = await run.fleet_store.status()
            (worker,) = status.workers
            assert (worker.worker_id, worker.concurrency, worker.pid) == ("w0", 100, os.getpid())
            assert worker.alive and worker.host and worker.chats == 1
            assert [(c.conversation_id, c.owner) for c in status.chats] == [(run.ids[0], "w0")]
            assert status.counters.get("restored") == 1


async def test_a_stall_shorter_than_the_lease_is_invisible_to_the_handlers(
    own_redis: PrivateRedis,
) -> None:
    # Failed before: a store call had no timeout (the worker waited on the frozen Redis;
    # with a pool that runs dry the handler got the store's error and its event was
    # committed as handled: the answer lost).
    run = Fleetlet(own_redis.url, workers=2, lease=4.0, timeout=0.3)
    with watching("store write failed, trying again") as retried:
        async with run.running(CHATS):
            await run.held(lambda n: n == CHATS)
            await run.answers.reach(CHATS * LINES // 3)
            own_redis.pause()
            try:
                # A send (or a commit) waits on the frozen store and times out at least
                # once: the stall is then longer than the store's timeout.
                await asyncio.wait_for(retried.seen.wait(), BOUND)
            finally:
                own_redis.resume()
            assert await run.finished() == (0, 0, 0)
            assert run.errors == []
            counters = (await run.fleet_store.status()).counters
            assert counters.get("handler_errors", 0) == 0


async def test_a_stall_longer_than_the_lease_loses_the_chats_here_and_they_come_back(
    own_redis: PrivateRedis,
) -> None:
    # Past the lease the worker stops acting on its chats (fenced); when the store
    # answers again it claims them again (failed before: a worker could not claim a chat
    # whose expired lease still named it), and each interrupted event is handled again
    # without a doubled answer.
    run = Fleetlet(own_redis.url, workers=1, lease=1.5, timeout=0.3)
    async with run.running(CHATS):
        await run.held(lambda n: n == CHATS)
        await run.answers.reach(CHATS * LINES // 3)
        own_redis.pause()
        try:
            await run.held(lambda n: n == 0)  # every lease ran out here
        finally:
            own_redis.resume()
        assert await run.finished() == (0, 0, 0)
        counters = (await run.fleet_store.status()).counters
        assert counters.get("handler_errors", 0) == 0
