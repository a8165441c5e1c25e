"""Memory per idle session that has received messages, and K sessions in one process.

K sessions are started in one worker process (``python -m benchmarks.session_memory
--worker``) against a canned service in its own process (:mod:`benchmarks._guest_server`),
which writes each stream the agent's greeting and :data:`MESSAGES` messages at once. Each
session is ``GuestSession.start(...)``, then ``session.events()`` until it has received
the greeting and the messages; then it idles, attached. Once all K idle, the worker's RSS
is read: ``(RSS idle - RSS before) / K`` (the baseline taken after a warm-up session, so
that code and caches are already paid). Two SDK sides: the sessions share one
``WebChatApi`` (``sdk``), or each is started without one (``sdk-own``: the simplest
code, what issue 24 measured; such sessions lease their event loop's default pool, closed
with the last of them, where each used to own an HTTP client and its keep-alive
connection: 53 KiB a session then). The peer, in a worker of its
own: K bare ``websockets`` connections receiving the same frames (``recv`` +
``json.loads``), idle.

This is the issue 24 measure (sessions that have received messages); many_sessions
measures sessions that have received only the greeting. With K = 5,000 it is also the
"5,000 attached sessions in one process receiving messages, 0 errors" mode.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections import Counter
from typing import Any

from ._harness import (
    Check,
    Figure,
    Result,
    Stats,
    peak_rss_kib,
    raise_open_files_limit,
    rss_kib,
    run_module,
)
from .session_events import GuestServer

__all__ = ["GOAL_ERRORS", "GOAL_RSS_KIB", "MESSAGES", "NAME", "TITLE", "run", "worker"]

NAME = "session_memory"
TITLE = "Idle sessions that have received messages (RSS), and K sessions in one process"
GOAL_RSS_KIB = 35.0
GOAL_ERRORS = 0
#: Messages each session receives after the greeting.
MESSAGES = 5
_RAMP = 200
_TIMEOUT = 600.0
SIDES = ("sdk", "sdk-own", "raw")
_WHO = {
    "sdk": "GuestSession (one shared WebChatApi)",
    "sdk-own": "GuestSession (no api=: the loop's default pool)",
    "raw": "bare websockets",
}


def run(*, counts: tuple[int, ...] = (1000,), runs: int = 3, big: int | None = 5000) -> Result:
    """``runs`` worker processes per side for each K in ``counts``; then, with ``big``,
    one process of ``big`` sessions (one shared ``WebChatApi``), which must all work."""
    started = time.perf_counter()
    figures: list[Figure] = []
    checks: list[Check] = []
    notes: list[str] = []
    with GuestServer(1, MESSAGES) as server:
        for k in counts:
            samples: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
            for i in range(runs):
                for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                    samples[side].append(_worker_process(server.base_url, side, k))
            for side in SIDES:
                who = _WHO[side]
                got = samples[side]
                figures += [
                    Figure(
                        f"k{k}_{side}_rss_per_session_kib",
                        f"K={k}: {who}, RSS per idle session after {MESSAGES} messages",
                        Stats.of([s["rss_per_session_kib"] for s in got], "KiB"),
                    ),
                    Figure(
                        f"k{k}_{side}_peak_rss_mib",
                        f"K={k}: {who}, peak RSS",
                        Stats.of([s["peak_rss_kib"] / 1024 for s in got], "MiB"),
                    ),
                    Figure(
                        f"k{k}_{side}_seconds",
                        f"K={k}: {who}, seconds to start all and receive",
                        Stats.of([s["attach_seconds"] for s in got], "s"),
                    ),
                    Figure(
                        f"k{k}_{side}_errors",
                        f"K={k}: {who}, sessions that failed",
                        Stats.of([float(s["errors"]) for s in got], "sessions"),
                    ),
                ]
                for sample in got:
                    for kind, count in sample["error_kinds"].items():
                        notes.append(f"K={k} {side}: {count} x {kind}")
            sdk = samples["sdk"]
            checks.append(
                Check.at_most(
                    f"{k} sessions with messages: failed sessions (worst run)",
                    max(s["errors"] for s in sdk),
                    GOAL_ERRORS,
                    "sessions",
                )
            )
            if k == min(counts):
                for side in ("sdk-own", "sdk"):
                    rss = Stats.of([s["rss_per_session_kib"] for s in samples[side]], "KiB")
                    checks.append(
                        Check.at_most(
                            f"{k} sessions, {_WHO[side]}: RSS per idle session after "
                            f"{MESSAGES} messages",
                            rss.median,
                            GOAL_RSS_KIB,
                            "KiB",
                        )
                    )
        if big is not None:
            sample = _worker_process(server.base_url, "sdk", big)
            figures += [
                Figure(
                    f"k{big}_sdk_{key}",
                    f"K={big}: {_WHO['sdk']}, {label}",
                    Stats.of([scale * sample[field]], unit),
                )
                for key, label, field, scale, unit in (
                    (
                        "rss_per_session_kib",
                        "RSS per idle session",
                        "rss_per_session_kib",
                        1,
                        "KiB",
                    ),
                    ("peak_rss_mib", "peak RSS", "peak_rss_kib", 1 / 1024, "MiB"),
                    ("seconds", "seconds to start all and receive", "attach_seconds", 1, "s"),
                    ("errors", "sessions that failed", "errors", 1, "sessions"),
                )
            ]
            for kind, count in sample["error_kinds"].items():
                notes.append(f"K={big} sdk: {count} x {kind}")
            checks.append(
                Check.at_most(
                    f"{big} sessions in one process receiving messages: failed sessions",
                    sample["errors"],
                    GOAL_ERRORS,
                    "sessions",
                )
            )
    return Result(
        name=NAME,
        title=TITLE,
        params={"counts": list(counts), "runs": runs, "big": big, "messages": MESSAGES},
        figures=figures,
        checks=checks,
        notes=notes,
        seconds=time.perf_counter() - started,
    )


def _worker_process(base_url: str, side: str, k: int) -> dict[str, Any]:
    args = ["--worker", side, "--k", str(k), "--base-url", base_url]
    out = run_module("benchmarks.session_memory", args, timeout=_TIMEOUT + 120)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# -- the worker ---------------------------------------------------------------------------


async def _sdk_session(api: Any, base_url: str, go: asyncio.Event, idle: Any) -> None:
    from webchat_async.models import GuestMemberInfo
    from webchat_async.session import GuestSession, MessageReceived

    session = await GuestSession.start(
        organization_id="bench-org",
        deployment_id="bench-deployment",
        member_info=GuestMemberInfo(display_name="Bench"),
        api=api,
        base_url=None if api is not None else base_url,
        proxy=None,
    )
    async with session:
        got = 0
        async for event in session.events():
            if type(event) is MessageReceived:
                got += 1
                if got == MESSAGES + 1:
                    break
        idle()
        await go.wait()


async def _raw_session(base_url: str, n: int, go: asyncio.Event, idle: Any) -> None:
    from websockets.asyncio.client import connect

    from webchat_async._events import MAX_FRAME_SIZE

    uri = base_url.replace("http://", "ws://") + f"/stream/raw-{n}"
    async with connect(
        uri, compression=None, max_size=MAX_FRAME_SIZE, max_queue=16, proxy=None
    ) as ws:
        for _ in range(MESSAGES + 1):
            frame = json.loads(await ws.recv())
            if frame["metadata"]["type"] != "message":
                raise RuntimeError("expected a message")
        idle()
        await go.wait()


async def worker(base_url: str, side: str, k: int) -> dict[str, Any]:
    """K sessions (``side``: ``sdk`` or ``raw``); return the measurements."""
    from webchat_async.api import WebChatApi

    # The sessions share one API client, as many_sessions and a program running many
    # chats do (a session started without one owns a client of its own).
    if side == "sdk-own":
        return await _worker(None, base_url, side, k)
    async with WebChatApi(base_url=base_url) as api:
        return await _worker(api, base_url, side, k)


async def _worker(api: Any, base_url: str, side: str, k: int) -> dict[str, Any]:
    go = asyncio.Event()
    ramp = asyncio.Semaphore(_RAMP)
    errors: Counter[str] = Counter()
    idle_count = 0
    all_idle = asyncio.Event()

    def mark() -> None:
        nonlocal idle_count
        idle_count += 1
        if idle_count == k:
            all_idle.set()

    async def one(n: int, done: Any, go: asyncio.Event) -> None:
        marked = False

        def idle() -> None:
            nonlocal marked
            marked = True
            ramp.release()
            done()

        await ramp.acquire()
        try:
            if side != "raw":
                await asyncio.wait_for(_sdk_session(api, base_url, go, idle), _TIMEOUT)
            else:
                await asyncio.wait_for(_raw_session(base_url, n, go, idle), _TIMEOUT)
        except Exception as exc:
            errors[type(exc).__name__] += 1
        finally:
            if not marked:
                ramp.release()
                done()

    # Warm-up: one whole session, so that the baseline includes code and caches.
    warm = asyncio.Event()
    warm.set()
    await one(-1, lambda: None, warm)
    gc.collect()
    rss_before = rss_kib()
    t0 = time.perf_counter()
    tasks = [asyncio.get_running_loop().create_task(one(n, mark, go)) for n in range(k)]
    await all_idle.wait()
    attach_seconds = time.perf_counter() - t0
    gc.collect()
    rss_idle = rss_kib()
    _print_top_allocations()
    go.set()
    await asyncio.gather(*tasks)
    return {
        "side": side,
        "k": k,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "attach_seconds": attach_seconds,
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "rss_per_session_kib": (rss_idle - rss_before) / k,
        "peak_rss_kib": peak_rss_kib(),
    }


def _print_top_allocations() -> None:
    """With ``--tracemalloc``: what the idle sessions hold, by line, to stderr."""
    import sys
    import tracemalloc

    if not tracemalloc.is_tracing():
        return
    snapshot = tracemalloc.take_snapshot()
    for stat in snapshot.statistics("lineno")[:40]:
        print(stat, file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.session_memory --worker sdk|raw --k K --base-url URL``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.session_memory")
    parser.add_argument("--worker", choices=SIDES, required=True)
    parser.add_argument("--k", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--tracemalloc", action="store_true", help="print the top allocations")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(8)
    result = asyncio.run(worker(args.base_url, args.worker, args.k))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
