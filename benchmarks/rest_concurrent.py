"""2. Concurrent REST: 100 senders through one ``WebChatApi`` against one bare ``httpx`` client.

Each sender sends its share of messages in turn; all senders run at once on one client
(httpx's default pool: 100 connections, 20 kept alive, on both sides). The figure is
requests per second over the whole batch; the ratio is the SDK's time over the
baseline's for the same batch (``httpx req/s / SDK req/s``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from . import rest_call
from ._harness import Check, Figure, Result, SimulatorProcess, Stats, alternate_async
from ._server import QUIET

__all__ = ["GOAL", "NAME", "TITLE", "run"]

NAME = "rest_concurrent"
TITLE = "Concurrent REST (100 senders, one client)"
#: The issue's goal: the SDK's batch takes at most 1.10 times the baseline's.
GOAL = 1.10

_TEXT = QUIET + " Is anybody there?"


async def run(
    sim: SimulatorProcess, *, runs: int = 7, senders: int = 100, per_sender: int = 20
) -> Result:
    """Measure ``runs`` pairs of batches of ``senders * per_sender`` sends."""
    started = time.perf_counter()
    async with rest_call.senders(sim, _TEXT) as (sdk_once, raw_once):

        async def sdk() -> tuple[float, float]:
            return await _batch(sdk_once, senders, per_sender)

        async def raw() -> tuple[float, float]:
            return await _batch(raw_once, senders, per_sender)

        await _batch(sdk_once, senders, 2)
        await _batch(raw_once, senders, 2)
        pairs = await alternate_async(runs, sdk, raw)

    total = senders * per_sender
    sdk_rps = [total / p[0][0] for p in pairs]
    raw_rps = [total / p[1][0] for p in pairs]
    ratios = [p[0][0] / p[1][0] for p in pairs]
    cpu_ratios = [p[0][1] / p[1][1] for p in pairs]
    ratio = Stats.of(ratios, "x")
    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs, "senders": senders, "per_sender": per_sender},
        figures=[
            Figure("sdk_rps", "WebChatApi: requests per second", Stats.of(sdk_rps, "req/s")),
            Figure("httpx_rps", "bare httpx: requests per second", Stats.of(raw_rps, "req/s")),
            Figure("ratio", "batch time, SDK / httpx", ratio),
            Figure("cpu_ratio", "client CPU per batch, SDK / httpx", Stats.of(cpu_ratios, "x")),
        ],
        checks=[Check.at_most("Concurrent REST, SDK / httpx", ratio.median, GOAL, "x")],
        seconds=time.perf_counter() - started,
    )


async def _batch(
    call: Callable[[], Awaitable[None]], senders: int, per_sender: int
) -> tuple[float, float]:
    """(wall seconds, client CPU seconds) for ``senders`` concurrent senders."""

    async def sender() -> None:
        for _ in range(per_sender):
            await call()

    cpu_start = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return time.perf_counter() - t0, time.process_time() - cpu_start
