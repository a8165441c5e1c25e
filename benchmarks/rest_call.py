"""1. REST call cost: sequential sends through ``WebChatApi`` against bare ``httpx``.

Both sides send the very same request (URL, headers, JSON bytes) on a warm connection to
the same conversation, one after the other; the figure is the median time of one call
within a run. The baseline checks the status and parses the JSON answer, as any caller
must; the SDK additionally validates the arguments, maps errors and builds a typed
``WebChatMessage``.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from webchat_async.api import WebChatApi
from webchat_async.models import CreateWebChatMessageRequest

from . import _raw
from ._harness import Check, Figure, Result, SimulatorProcess, Stats, alternate_async
from ._server import QUIET

__all__ = ["GOAL", "NAME", "TITLE", "Send", "measure", "run", "senders"]

#: One send to the simulator, through the SDK or bare httpx.
Send = Callable[[], Awaitable[None]]

NAME = "rest_call"
TITLE = "REST call cost (sequential send-message)"
#: The issue's goal: SDK time per call at most 1.10 times the baseline's.
GOAL = 1.10

_TEXT = QUIET + " How long does a refund take?"


async def run(
    sim: SimulatorProcess, *, runs: int = 9, calls: int = 300, warmup: int = 30
) -> Result:
    """Measure ``runs`` pairs of ``calls`` sequential sends each."""
    started = time.perf_counter()
    async with senders(sim, _TEXT) as (sdk_once, raw_once):

        async def sdk() -> tuple[float, float]:
            return await measure(sdk_once, calls)

        async def raw() -> tuple[float, float]:
            return await measure(raw_once, calls)

        # Warm both pools, the converter's generated functions and the server's paths.
        await measure(sdk_once, warmup)
        await measure(raw_once, warmup)
        pairs = await alternate_async(runs, sdk, raw)

    sdk_call = [p[0][0] * 1e6 for p in pairs]
    raw_call = [p[1][0] * 1e6 for p in pairs]
    ratios = [s / r for s, r in zip(sdk_call, raw_call, strict=True)]
    sdk_cpu = [p[0][1] * 1e6 for p in pairs]
    raw_cpu = [p[1][1] * 1e6 for p in pairs]
    cpu_ratios = [s / r for s, r in zip(sdk_cpu, raw_cpu, strict=True)]
    ratio = Stats.of(ratios, "x")
    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs, "calls": calls, "warmup": warmup},
        figures=[
            Figure("sdk_call_us", "WebChatApi: median time per call", Stats.of(sdk_call, "µs")),
            Figure("httpx_call_us", "bare httpx: median time per call", Stats.of(raw_call, "µs")),
            Figure("ratio", "time per call, SDK / httpx", ratio),
            Figure("sdk_cpu_us", "WebChatApi: client CPU per call", Stats.of(sdk_cpu, "µs")),
            Figure("httpx_cpu_us", "bare httpx: client CPU per call", Stats.of(raw_cpu, "µs")),
            Figure("cpu_ratio", "client CPU per call, SDK / httpx", Stats.of(cpu_ratios, "x")),
        ],
        checks=[Check.at_most("REST call cost, SDK / httpx", ratio.median, GOAL, "x")],
        seconds=time.perf_counter() - started,
    )


@contextlib.asynccontextmanager
async def senders(sim: SimulatorProcess, text: str) -> AsyncIterator[tuple[Send, Send]]:
    """``(sdk_once, raw_once)``: one send of ``text`` through ``WebChatApi``, and the very
    same request (URL, headers, JSON bytes) through a bare ``httpx`` client, to one
    conversation, each on a pool of its own that lives as long as the context."""
    async with _raw.http_client() as setup:
        conversation = await _raw.create_conversation(setup, sim)
    url = _raw.message_url(sim, conversation)
    request = CreateWebChatMessageRequest(body=text)
    async with (
        WebChatApi(base_url=sim.base_url, guest_token=conversation.jwt) as api,
        _raw.http_client() as client,
    ):

        async def sdk_once() -> None:
            await api.post_webchat_guest_conversation_member_messages(
                conversation.id, conversation.member_id, request
            )

        async def raw_once() -> None:
            await _raw.post_message(client, url, conversation.jwt, text)

        yield sdk_once, raw_once


async def measure(call: Callable[[], Awaitable[None]], count: int) -> tuple[float, float]:
    """``count`` sequential calls: (median seconds per call, mean CPU seconds per call)."""
    times = []
    perf = time.perf_counter
    cpu_start = time.process_time()
    for _ in range(count):
        t0 = perf()
        await call()
        times.append(perf() - t0)
    cpu = (time.process_time() - cpu_start) / count
    return statistics.median(times), cpu
