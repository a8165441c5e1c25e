"""3. Event decode + delivery: M message frames on one socket, ``session.events()`` against a
bare ``websockets`` client doing ``recv()`` + ``json.loads``.

Each side has its own conversation, attached and routed before measuring. A run asks
the simulator (admin endpoint ``say_many``) to have the agent send M messages back to
back, and times from that request until the consumer holds the M-th event: for the SDK a
typed :class:`~webchat_async.session.MessageReceived` taken from ``session.events()``
(parsed, structured, de-duplicated, queued), for the baseline the M-th dict from
``json.loads``. Both sides pay the same admin request.

The simulator produces frames in its own process: when it is the slower side, the wall
ratio understates the client's cost, so the client's CPU time per event is reported too.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import httpx
from websockets.asyncio.client import ClientConnection

from webchat_async.models import BodyType, GuestMemberInfo
from webchat_async.session import GuestSession, MessageReceived

from . import _raw
from ._harness import Check, Figure, Result, SimulatorProcess, Stats, alternate_async

__all__ = ["GOAL", "NAME", "TITLE", "run"]

NAME = "event_delivery"
TITLE = "Event decode + delivery (one socket)"
#: The issue's goal: SDK time at most 1.25 times the bare websockets client's.
GOAL = 1.25

_TEXT = "Your refund has been processed and should reach your account in 3 to 5 days."

# One measurement: (wall seconds, client CPU seconds, server CPU seconds).
Sample = tuple[float, float, float]


async def run(sim: SimulatorProcess, *, runs: int = 7, messages: int = 5000) -> Result:
    """Measure ``runs`` pairs of ``messages`` frames each."""
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60.0) as admin:
        session = await GuestSession.start(
            organization_id=sim.organization_id,
            deployment_id=sim.deployment_id,
            member_info=GuestMemberInfo(display_name="Bench"),
            base_url=sim.base_url,
            proxy=None,
            # The consumer keeps up; the default inbox is the realistic setting.
        )
        async with session:
            await session.wait_for(_is_agent_text, timeout=30)
            raw_conversation = await _raw.create_conversation(admin, sim, attach=False)
            ws = await _raw.open_stream(raw_conversation.event_stream_uri)
            try:
                await _raw_wait_greeting(ws)

                async def say(conversation_id: str, count: int) -> asyncio.Task[httpx.Response]:
                    url = f"{sim.base_url}/__simulator__/conversations/{conversation_id}/agent"
                    body = {"action": "say_many", "text": _TEXT, "count": count}
                    return asyncio.get_running_loop().create_task(admin.post(url, json=body))

                async def sdk(count: int = messages) -> Sample:
                    cpu0, srv0 = time.process_time(), sim.cpu_seconds()
                    t0 = time.perf_counter()
                    post = await say(session.conversation_id, count)
                    got = 0
                    async for event in session.events():
                        if type(event) is MessageReceived:
                            got += 1
                            if got == count:
                                break
                    t1 = time.perf_counter()
                    cpu1 = time.process_time()
                    (await post).raise_for_status()
                    return t1 - t0, cpu1 - cpu0, sim.cpu_seconds() - srv0

                async def raw(count: int = messages) -> Sample:
                    cpu0, srv0 = time.process_time(), sim.cpu_seconds()
                    t0 = time.perf_counter()
                    post = await say(raw_conversation.id, count)
                    loads = json.loads
                    recv = ws.recv
                    for _ in range(count):
                        loads(await recv())
                    t1 = time.perf_counter()
                    cpu1 = time.process_time()
                    (await post).raise_for_status()
                    return t1 - t0, cpu1 - cpu0, sim.cpu_seconds() - srv0

                warm = max(1, messages // 10)
                await sdk(warm)
                await raw(warm)
                pairs = await alternate_async(runs, sdk, raw)
            finally:
                await ws.close()

    notes = []
    server_us = statistics.median((p[0][2] + p[1][2]) / (2 * messages) * 1e6 for p in pairs)
    client_us = statistics.median(p[0][1] / messages * 1e6 for p in pairs)
    if server_us >= client_us:
        notes.append(
            f"the simulator was the slower side ({server_us:.0f} µs of CPU per frame against "
            f"the SDK's {client_us:.0f} µs per event): the wall-time ratio understates the "
            "SDK's cost; the client-CPU ratio is the SDK's own"
        )
    sdk_ms = [p[0][0] * 1e3 for p in pairs]
    raw_ms = [p[1][0] * 1e3 for p in pairs]
    ratio = Stats.of([p[0][0] / p[1][0] for p in pairs], "x")
    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs, "messages": messages},
        figures=[
            Figure("sdk_ms", f"GuestSession: {messages} events", Stats.of(sdk_ms, "ms")),
            Figure("raw_ms", f"bare websockets: {messages} frames", Stats.of(raw_ms, "ms")),
            Figure("ratio", "time, SDK / websockets", ratio),
            Figure(
                "sdk_events_per_s",
                "GuestSession: events per second",
                Stats.of([messages / p[0][0] for p in pairs], "events/s"),
            ),
            Figure(
                "raw_frames_per_s",
                "bare websockets: frames per second",
                Stats.of([messages / p[1][0] for p in pairs], "frames/s"),
            ),
            Figure(
                "sdk_cpu_us",
                "GuestSession: client CPU per event",
                Stats.of([p[0][1] / messages * 1e6 for p in pairs], "µs"),
            ),
            Figure(
                "raw_cpu_us",
                "bare websockets: client CPU per frame",
                Stats.of([p[1][1] / messages * 1e6 for p in pairs], "µs"),
            ),
            Figure(
                "cpu_ratio",
                "client CPU, SDK / websockets",
                Stats.of([p[0][1] / p[1][1] for p in pairs], "x"),
            ),
            Figure(
                "server_cpu_us",
                "simulator CPU per frame (both sides)",
                Stats.of([(p[0][2] + p[1][2]) / (2 * messages) * 1e6 for p in pairs], "µs"),
            ),
        ],
        checks=[Check.at_most("Event delivery, SDK / websockets", ratio.median, GOAL, "x")],
        notes=notes,
        seconds=time.perf_counter() - started,
    )


def _is_agent_text(event: object) -> bool:
    return isinstance(event, MessageReceived) and event.message.body_type == BodyType.STANDARD


async def _raw_wait_greeting(ws: ClientConnection) -> None:
    """Read frames until the agent's greeting (a standard message) has arrived."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        body = frame.get("eventBody") or {}
        if (frame.get("metadata") or {}).get("type") == "message" and body.get(
            "bodyType"
        ) == "standard":
            return
