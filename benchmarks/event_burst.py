"""Typed events back to back: the SDK's ``EventStream`` against bare websockets + json.

A server in its own process (:mod:`benchmarks._ws_burst`) writes N ``message`` frames on
one socket in one go, so nothing paces the client. Per run, on fresh connections, one
after the other (order alternating): the SDK's :class:`~webchat_async.stream.EventStream`
``receive()`` until N typed ``MessageReceived``, and bare ``websockets`` ``recv()`` +
``json.loads`` of the same frames. Figures are client CPU per event; the ratio is taken
within each run. Goal (issue 11): at most 1.5x.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from ._harness import ROOT, Check, Figure, Result, Stats, alternate_async, child_env

__all__ = ["GOAL", "NAME", "TITLE", "run"]

NAME = "event_burst"
TITLE = "Events back to back: EventStream -> MessageReceived vs websockets recv + json.loads"
GOAL = 1.5


async def _sdk(uri: str, count: int) -> tuple[float, float]:
    from webchat_async._events import MessageReceived
    from webchat_async.stream import EventStream

    stream = EventStream(uri, max_queue=16, proxy=None)
    await stream.connect()
    try:
        cpu, t0 = time.process_time(), time.perf_counter()
        for _ in range(count):
            event = await stream.receive()
            if not isinstance(event, MessageReceived):
                raise RuntimeError(f"expected a message, got {event!r}")
        return time.perf_counter() - t0, time.process_time() - cpu
    finally:
        await stream.aclose()


async def _raw(uri: str, count: int) -> tuple[float, float]:
    from websockets.asyncio.client import connect

    from webchat_async._events import MAX_FRAME_SIZE

    async with connect(
        uri, compression=None, max_size=MAX_FRAME_SIZE, max_queue=16, proxy=None
    ) as ws:
        cpu, t0 = time.process_time(), time.perf_counter()
        for _ in range(count):
            frame = json.loads(await ws.recv())
            if frame["metadata"]["type"] != "message":
                raise RuntimeError("expected a message")
        return time.perf_counter() - t0, time.process_time() - cpu


async def _measure(uri: str, runs: int, count: int) -> list[tuple[tuple[float, float], ...]]:
    await _sdk(uri, min(count, 200))  # warm-up: imports, the converter's generated code
    await _raw(uri, min(count, 200))
    pairs = await alternate_async(runs, lambda: _sdk(uri, count), lambda: _raw(uri, count))
    return [tuple(p) for p in pairs]


def run(*, runs: int = 7, messages: int = 20000) -> Result:
    """``runs`` pairs of ``messages`` frames each."""
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._ws_burst", str(messages)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    try:
        assert server.stdout is not None
        uri = json.loads(server.stdout.readline())["uri"]
        pairs = asyncio.run(_measure(uri, runs, messages))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
    sdk_us = [p[0][1] / messages * 1e6 for p in pairs]
    raw_us = [p[1][1] / messages * 1e6 for p in pairs]
    ratio = Stats.of([p[0][1] / p[1][1] for p in pairs], "x")
    wall = Stats.of([p[0][0] / p[1][0] for p in pairs], "x")
    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs, "messages": messages},
        figures=[
            Figure(
                "sdk_cpu_us", "EventStream: client CPU per MessageReceived", Stats.of(sdk_us, "us")
            ),
            Figure(
                "raw_cpu_us", "websockets recv + json.loads: CPU per frame", Stats.of(raw_us, "us")
            ),
            Figure("ratio", "client CPU per event, SDK / bare", ratio),
            Figure("wall_ratio", "wall time, SDK / bare", wall),
        ],
        checks=[
            Check.at_most("Events back to back, CPU per event, SDK / bare", ratio.median, GOAL, "x")
        ],
        seconds=time.perf_counter() - started,
    )
