"""7. The worker fleet: K chats held by one ``Worker``, and the cost of an event there.

K chats (1,000 in the full run) are held at once by one worker on the in-memory store, K
more by one on Redis (when a Redis is at hand: ``WEBCHAT_REDIS_URL``, or ``redis-server``
on PATH, started on a free port), and K bare ``GuestSession`` objects consume events the
plain way; all in this process, the simulator in its own. Each run has the agent send M
messages to every chat of one set (one ``say_many`` request) and times until all K*M were handled;
the sets take turns. The handler only counts, so what is measured is the fleet's own
cost per event: the handler call, the saved session's JSON and the commit (one store write).

Figures: client CPU per event for each set and the ratios to the bare sessions (one
admin request per round makes the agent speak in every chat of the set);
Redis round trips per committed event (counted by the store, ``RedisStore.round_trips``:
every call and pipeline it sent meanwhile, renewals included, over the events; commits of
chats busy at once share a pipeline); RSS per held chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import statistics
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from webchat_async import Event, GuestMemberInfo, GuestSession, MessageReceived, WebChatApi
from webchat_async.worker import Chat, Fleet, MemoryStore, RedisStore, SessionStore, Worker

from ._harness import (
    Check,
    Figure,
    Result,
    SimulatorProcess,
    Stats,
    raise_open_files_limit,
    rss_kib,
)

__all__ = ["NAME", "TITLE", "register", "run"]

NAME = "fleet"
TITLE = "Worker fleet: chats held per worker, cost per event"
#: Goals: an event in a worker costs at most this much more client CPU than in a bare
#: session, and the Redis store spends about one round trip per committed event.
CPU_GOAL = 1.25
ROUND_TRIP_GOAL = 1.1

_TEXT = "Your parcel left the depot this morning and arrives tomorrow."
_ROOT = Path(__file__).resolve().parents[1]


class Counter:
    """Counts agent messages; wakes a waiter when a target is reached."""

    def __init__(self) -> None:
        self.count = 0
        self.target = -1
        self.reached = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        if self.count == self.target:
            self.reached.set()

    async def until(self, target: int, timeout: float) -> None:
        self.target = target
        if self.count >= target:
            return
        self.reached.clear()
        await asyncio.wait_for(self.reached.wait(), timeout)


def _agent_text(event: Event, member_id: str) -> bool:
    return (
        type(event) is MessageReceived
        and event.message.body_type == "standard"
        and event.message.sender is not None
        and event.message.sender.id != member_id
    )


@contextlib.asynccontextmanager
async def _redis_store() -> AsyncIterator[RedisStore | None]:
    spec = importlib.util.spec_from_file_location(
        "redis_support", _ROOT / "tests" / "worker" / "redis_support.py"
    )
    assert spec is not None and spec.loader is not None
    support = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(support)
    try:
        with support.redis_server() as url:
            store = RedisStore.from_url(url, prefix=f"bench-{time.time_ns()}:")
            try:
                yield store
            finally:
                keys = [k async for k in store.client.scan_iter(match=f"{store.keys.prefix}*")]
                if keys:
                    await store.client.delete(*keys)
                await store.aclose()
    except support.RedisUnavailable:
        yield None


async def run(
    sim: SimulatorProcess, *, chats: int = 1000, messages: int = 20, runs: int = 3
) -> Result:
    """Hold ``chats`` chats per set; ``runs`` rounds of ``messages`` messages per chat."""
    started = time.perf_counter()
    raise_open_files_limit()
    counters: dict[str, Counter] = {}
    ids: dict[str, list[str]] = {}
    notes: list[str] = []
    async with (
        WebChatApi(base_url=sim.base_url) as api,
        httpx.AsyncClient(timeout=120.0, limits=httpx.Limits(max_connections=50)) as admin,
        _redis_store() as redis,
    ):
        gate = asyncio.Semaphore(50)
        member = GuestMemberInfo(display_name="Bench")

        # -- bare sessions ---------------------------------------------------------------
        bare = counters["bare"] = Counter()
        sessions: list[GuestSession] = []

        async def open_bare() -> None:
            async with gate:
                session = await GuestSession.start(
                    organization_id=sim.organization_id,
                    deployment_id=sim.deployment_id,
                    member_info=member,
                    api=api,
                    proxy=None,
                )
            sessions.append(session)

        async def consume(session: GuestSession) -> None:
            async for event in session.events():
                if _agent_text(event, session.member_id):
                    bare.add()

        await asyncio.gather(*(open_bare() for _ in range(chats)))
        consumers = [asyncio.get_running_loop().create_task(consume(s)) for s in sessions]
        ids["bare"] = [s.conversation_id for s in sessions]
        await bare.until(chats, 120)  # the greetings

        # -- workers ---------------------------------------------------------------------
        workers: dict[str, Worker] = {}
        stores: dict[str, SessionStore] = {"memory": MemoryStore()}
        if redis is not None:
            stores["redis"] = redis
        else:
            notes.append("no Redis at hand: the Redis figures are missing")
        rss: dict[str, float] = {}

        def counting(counter: Counter) -> Callable[[Chat, Event], Any]:
            async def handler(chat: Chat, event: Event) -> None:
                if _agent_text(event, chat.member_id):
                    counter.add()

            return handler

        for name, store in stores.items():
            counter = counters[name] = Counter()
            gc.collect()
            before = rss_kib()
            worker = workers[name] = Worker(
                counting(counter), store=store, concurrency=chats, lease=30.0, worker_id=name
            )
            await worker.__aenter__()
            fleet = Fleet(store, api=api)

            async def start(fleet: Fleet = fleet) -> str:
                async with gate:
                    started_chat = await fleet.start_chat(
                        organization_id=sim.organization_id,
                        deployment_id=sim.deployment_id,
                        member_info=member,
                    )
                return started_chat.conversation_id

            ids[name] = list(await asyncio.gather(*(start() for _ in range(chats))))
            await worker.wait_for(lambda w: len(w.chats) == chats, timeout=300)
            await counter.until(chats, 300)
            gc.collect()
            rss[name] = (rss_kib() - before) / chats

        async def burst(name: str) -> tuple[float, float, float]:
            counter = counters[name]
            trips0 = redis.round_trips if redis is not None else 0
            cpu0, t0 = time.process_time(), time.perf_counter()
            target = counter.count + chats * messages

            # One admin request for the whole set: a request per chat (1,000 through
            # httpx) cost this process more CPU than the events measured, and made the
            # ratios range from 0.6x to 2.6x between rounds.
            url = f"{sim.base_url}/__simulator__/agent"
            body = {
                "action": "say_many",
                "text": _TEXT,
                "count": messages,
                "conversationIds": ids[name],
            }
            (await admin.post(url, json=body, timeout=300)).raise_for_status()
            await counter.until(target, 300)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            trips = redis.round_trips - trips0 if name == "redis" and redis is not None else 0
            events = chats * messages
            return cpu / events * 1e6, wall, trips / events

        samples: dict[str, list[tuple[float, float, float]]] = {n: [] for n in counters}
        order = list(counters)
        for i in range(runs):
            for name in order if i % 2 == 0 else reversed(order):
                samples[name].append(await burst(name))

        for worker in workers.values():
            await worker.__aexit__(None, None, None)
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
        for session in sessions:
            await session.aclose()

    def cpu(name: str) -> list[float]:
        return [s[0] for s in samples[name]]

    figures = [
        Figure("held", f"chats held at once by one worker (memory{', redis' if redis else ''})",
               Stats.of([chats], "chats")),
        Figure("bare_us", "bare GuestSession: client CPU per event", Stats.of(cpu("bare"), "µs")),
        Figure("memory_us", "Worker + MemoryStore: client CPU per event",
               Stats.of(cpu("memory"), "µs")),
        Figure("memory_ratio", "CPU per event, Worker (memory) / bare session",
               Stats.of([m / b for m, b in zip(cpu("memory"), cpu("bare"), strict=True)], "x")),
        Figure("memory_rss", "RSS per held chat (memory store)",
               Stats.of([rss["memory"]], "KiB")),
    ]  # fmt: skip
    checks = [
        Check.at_most(
            "CPU per event, Worker (memory store) / bare session",
            statistics.median(m / b for m, b in zip(cpu("memory"), cpu("bare"), strict=True)),
            CPU_GOAL,
            "x",
        )
    ]
    if redis is not None:
        ratio = [r / b for r, b in zip(cpu("redis"), cpu("bare"), strict=True)]
        trips = [s[2] for s in samples["redis"]]
        figures += [
            Figure("redis_us", "Worker + RedisStore: client CPU per event",
                   Stats.of(cpu("redis"), "µs")),
            Figure("redis_ratio", "CPU per event, Worker (Redis) / bare session",
                   Stats.of(ratio, "x")),
            Figure("redis_round_trips", "Redis round trips per committed event",
                   Stats.of(trips, "round trips")),
            Figure("redis_rss", "RSS per held chat (Redis store)", Stats.of([rss["redis"]], "KiB")),
        ]  # fmt: skip
        checks.append(
            Check.at_most(
                "Redis round trips per committed event",
                statistics.median(trips),
                ROUND_TRIP_GOAL,
                "round trips",
            )
        )
    return Result(
        name=NAME,
        title=TITLE,
        params={"chats": chats, "messages": messages, "runs": runs},
        figures=figures,
        checks=checks,
        notes=notes,
        seconds=time.perf_counter() - started,
    )


def register(benchmarks: dict[str, Any], presets: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Add this benchmark to ``python -m benchmarks`` (needs the simulator, async)."""
    benchmarks[NAME] = (True, True, run)
    presets["full"][NAME] = {"chats": 1000, "messages": 20, "runs": 5}
    presets["quick"][NAME] = {"chats": 200, "messages": 20, "runs": 3}
