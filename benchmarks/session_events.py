"""Events where the user meets them: ``async for event in session.events()`` on a started
session, N message frames back to back, against bare websockets + ``json.loads``.

A canned service in its own process (:mod:`benchmarks._guest_server`) holds every frame
pre-encoded and writes N of them on the socket in one go when asked, so nothing paces the
client. Each measurement is on a fresh session (or connection), past its greeting:

* ``GuestSession.start(...)`` then ``session.events()`` until N typed
  ``MessageReceived``, the frames with distinct, increasing millisecond timestamps;
* the same with all N frames at **one** timestamp (the service stamps in milliseconds: a
  burst shares stamps; the delivery position must not grow with it);
* bare ``websockets`` ``recv()`` + ``json.loads`` of the distinct frames (the peer).

The three run back to back in each run, their order rotating. Figures are client CPU per
event; ratios are taken within each run. Goals (issue 24): SDK / bare at most 1.5x, and
one timestamp at most 1.5x the distinct timestamps' cost.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from ._harness import ROOT, Check, Figure, Result, Stats, child_env

__all__ = ["GOAL", "GOAL_ONE_TIMESTAMP", "NAME", "TITLE", "GuestServer", "run"]

NAME = "session_events"
TITLE = "session.events() back to back (started session) vs websockets recv + json.loads"
GOAL = 1.5
GOAL_ONE_TIMESTAMP = 1.5

# One measurement: (wall seconds, client CPU seconds).
Sample = tuple[float, float]


class GuestServer:
    """``python -m benchmarks._guest_server COUNT PUSH`` in a child process, for ``with``."""

    def __init__(self, count: int, push: int = 0) -> None:
        self._count = count
        self._push = push
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> GuestServer:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._guest_server", str(self._count), str(self._push)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=child_env(),
        )
        self._process = process
        if process.stdout is None:
            raise RuntimeError("no pipe to the server")
        line = process.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the server process exited ({process.wait()})")
        self.base_url = json.loads(line)["baseUrl"]
        return self

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def _trigger(base_url: str, key: str, kind: str) -> Callable[[], Awaitable[None]]:
    """Connect for ``POST /burst/key/kind`` now; the returned call sends it (a few hundred
    bytes written, no client library: both sides pay the same), and the answer is read
    after the measurement."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = (
        f"POST /burst/{key}/{kind} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    async def send() -> None:
        writer.write(request)

    async def answer() -> None:
        status = await reader.readline()
        writer.close()
        if b" 204 " not in status:
            raise RuntimeError(f"the burst was refused: {status!r}")

    send.answer = answer  # type: ignore[attr-defined]
    return send


async def _sdk(base_url: str, count: int, kind: str) -> Sample:
    from webchat_async.models import GuestMemberInfo
    from webchat_async.session import GuestSession, MessageReceived

    session = await GuestSession.start(
        organization_id="bench-org",
        deployment_id="bench-deployment",
        member_info=GuestMemberInfo(display_name="Bench"),
        base_url=base_url,
        proxy=None,
    )
    async with session:
        await session.wait_for(MessageReceived, timeout=30)  # the greeting: live now
        burst = await _trigger(base_url, session.conversation_id, kind)
        cpu, t0 = time.process_time(), time.perf_counter()
        await burst()
        got = 0
        async for event in session.events():
            if type(event) is MessageReceived:
                got += 1
                if got == count:
                    break
        sample = time.perf_counter() - t0, time.process_time() - cpu
        await burst.answer()  # type: ignore[attr-defined]
    return sample


async def _raw(base_url: str, count: int, key: str) -> Sample:
    from websockets.asyncio.client import connect

    from webchat_async._events import MAX_FRAME_SIZE

    uri = base_url.replace("http://", "ws://") + f"/stream/{key}"
    async with connect(
        uri, compression=None, max_size=MAX_FRAME_SIZE, max_queue=16, proxy=None
    ) as ws:
        json.loads(await ws.recv())  # the greeting
        burst = await _trigger(base_url, key, "distinct")
        loads = json.loads
        recv = ws.recv
        cpu, t0 = time.process_time(), time.perf_counter()
        await burst()
        for _ in range(count):
            frame = loads(await recv())
            if frame["metadata"]["type"] != "message":
                raise RuntimeError("expected a message")
        sample = time.perf_counter() - t0, time.process_time() - cpu
        await burst.answer()  # type: ignore[attr-defined]
    return sample


async def _measure(base_url: str, runs: int, count: int) -> list[dict[str, Sample]]:
    sides: dict[str, Callable[[int], Awaitable[Sample]]] = {
        "distinct": lambda i: _sdk(base_url, count, "distinct"),
        "same": lambda i: _sdk(base_url, count, "same"),
        "raw": lambda i: _raw(base_url, count, f"raw-{i}"),
    }
    # Warm-up: imports, the converter's generated code, the first connections.
    for name, side in sides.items():
        await side(-1 - len(name))
    order = list(sides)
    samples = []
    for i in range(runs):
        turn = order[i % 3 :] + order[: i % 3]
        samples.append({name: await sides[name](i) for name in turn})
    return samples


def run(*, runs: int = 7, messages: int = 20000) -> Result:
    """``runs`` rounds of ``messages`` frames for each of the three sides."""
    started = time.perf_counter()
    with GuestServer(messages) as server:
        samples = asyncio.run(_measure(server.base_url, runs, messages))
    per = {k: [s[k][1] / messages * 1e6 for s in samples] for k in ("distinct", "same", "raw")}
    ratio = Stats.of([s["distinct"][1] / s["raw"][1] for s in samples], "x")
    same_ratio = Stats.of([s["same"][1] / s["distinct"][1] for s in samples], "x")
    same_raw = Stats.of([s["same"][1] / s["raw"][1] for s in samples], "x")
    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs, "messages": messages},
        figures=[
            Figure(
                "sdk_cpu_us",
                "session.events(), distinct timestamps: client CPU per event",
                Stats.of(per["distinct"], "us"),
            ),
            Figure(
                "sdk_one_ts_cpu_us",
                "session.events(), one timestamp: client CPU per event",
                Stats.of(per["same"], "us"),
            ),
            Figure(
                "raw_cpu_us",
                "websockets recv + json.loads: CPU per frame",
                Stats.of(per["raw"], "us"),
            ),
            Figure("ratio", "client CPU per event, SDK / bare", ratio),
            Figure("one_ts_ratio", "client CPU per event, one timestamp / distinct", same_ratio),
            Figure("one_ts_raw_ratio", "client CPU per event, one timestamp SDK / bare", same_raw),
            Figure(
                "wall_ratio",
                "wall time, SDK / bare",
                Stats.of([s["distinct"][0] / s["raw"][0] for s in samples], "x"),
            ),
        ],
        checks=[
            Check.at_most("session.events(), CPU per event, SDK / bare", ratio.median, GOAL, "x"),
            Check.at_most(
                "session.events(), one timestamp / distinct timestamps",
                same_ratio.median,
                GOAL_ONE_TIMESTAMP,
                "x",
            ),
        ],
        seconds=time.perf_counter() - started,
    )
