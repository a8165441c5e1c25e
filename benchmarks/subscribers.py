"""Fan-out: one session read by 10 subscribers against the same session read by one
consumer (issue 27).

One ``GuestSession`` on the simulator, attached and routed before measuring. A run asks
the simulator (admin ``say_many``) to have the agent send M messages back to back and
times, in client CPU, until the consumers hold the M-th message: once with one consumer
(``session.events()``, the session alone), once with 10 subscriptions
(``session.subscribe()``), each of which takes all M. The two alternate, on the same
session and socket. Goal (issue 27): the 10 subscribers cost at most 2x the client CPU per
event of the one consumer (everything the client does per frame is paid once; the fan-out
adds a copy of a reference and a wake-up per subscriber).
"""

from __future__ import annotations

import asyncio
import time

import httpx

from webchat_async.errors import SubscriberLagError
from webchat_async.models import BodyType, GuestMemberInfo
from webchat_async.session import GuestSession, MessageReceived

from ._harness import Check, Figure, Result, SimulatorProcess, Stats, alternate_async

__all__ = ["GOAL", "NAME", "SUBSCRIBERS", "TITLE", "run"]

NAME = "subscribers"
TITLE = "Fan-out: 10 subscribers vs one consumer (client CPU per event)"
#: The issue's goal: 10 subscribers cost at most twice one consumer's CPU per event.
GOAL = 2.0
SUBSCRIBERS = 10

_TEXT = "Your refund has been processed and should reach your account in 3 to 5 days."

# One measurement: (wall seconds, client CPU seconds).
Sample = tuple[float, float]


async def run(
    sim: SimulatorProcess, *, runs: int = 7, messages: int = 5000, subscribers: int = SUBSCRIBERS
) -> Result:
    """Measure ``runs`` pairs of ``messages`` events each."""
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60.0) as admin:
        session = await GuestSession.start(
            organization_id=sim.organization_id,
            deployment_id=sim.deployment_id,
            member_info=GuestMemberInfo(display_name="Bench"),
            base_url=sim.base_url,
            proxy=None,
        )
        async with session:
            await session.wait_for(_is_agent_text, timeout=30)
            url = f"{sim.base_url}/__simulator__/conversations/{session.conversation_id}/agent"

            def say(count: int) -> asyncio.Task[httpx.Response]:
                body = {"action": "say_many", "text": _TEXT, "count": count}
                return asyncio.get_running_loop().create_task(admin.post(url, json=body))

            async def one(count: int = messages) -> Sample:
                cpu0, t0 = time.process_time(), time.perf_counter()
                post = say(count)
                got = 0
                while got < count:
                    try:
                        async for event in session.events():
                            if type(event) is MessageReceived:
                                got += 1
                                if got == count:
                                    break
                    except SubscriberLagError:
                        # events() beside the last run's subscribers, which read without
                        # it: told once, it continues from the newest (none of this run).
                        continue
                t1, cpu1 = time.perf_counter(), time.process_time()
                (await post).raise_for_status()
                return t1 - t0, cpu1 - cpu0

            async def many(count: int = messages) -> Sample:
                subs = [session.subscribe(limit=count + 100) for _ in range(subscribers)]

                async def consume(index: int) -> None:
                    got = 0
                    async for event in subs[index]:
                        if type(event) is MessageReceived:
                            got += 1
                            if got == count:
                                return

                cpu0, t0 = time.process_time(), time.perf_counter()
                post = say(count)
                await asyncio.gather(*(consume(i) for i in range(subscribers)))
                t1, cpu1 = time.perf_counter(), time.process_time()
                for sub in subs:
                    sub.close()
                (await post).raise_for_status()
                return t1 - t0, cpu1 - cpu0

            warm = max(1, messages // 10)
            await one(warm)
            await many(warm)
            pairs = await alternate_async(runs, many, one)

    ratio = Stats.of([p[0][1] / p[1][1] for p in pairs], "x")
    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs, "messages": messages, "subscribers": subscribers},
        figures=[
            Figure(
                "one_cpu_us",
                "one consumer (events()): client CPU per event",
                Stats.of([p[1][1] / messages * 1e6 for p in pairs], "µs"),
            ),
            Figure(
                "many_cpu_us",
                f"{subscribers} subscribers: client CPU per event (all of them)",
                Stats.of([p[0][1] / messages * 1e6 for p in pairs], "µs"),
            ),
            Figure("cpu_ratio", f"client CPU per event, {subscribers} subscribers / one", ratio),
            Figure(
                "wall_ratio",
                f"wall time, {subscribers} subscribers / one",
                Stats.of([p[0][0] / p[1][0] for p in pairs], "x"),
            ),
        ],
        checks=[
            Check.at_most(
                f"Fan-out, CPU per event, {subscribers} subscribers / one consumer",
                ratio.median,
                GOAL,
                "x",
            )
        ],
        seconds=time.perf_counter() - started,
    )


def _is_agent_text(event: object) -> bool:
    return isinstance(event, MessageReceived) and event.message.body_type == BodyType.STANDARD
