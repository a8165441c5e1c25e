"""Many Web Messaging sessions: K concurrent ``MessagingSession`` objects in one process.

Each run is a fresh worker process (``python -m benchmarks.messaging_sessions --worker``),
so that its resident memory is the sessions' and nothing left over from another
benchmark; the simulator is in its own process (:class:`~._harness.SimulatorProcess`).
In the worker, every session is started (websocket, ``configureSession``, ``getJwt``, the
history read) with one shared HTTP client; starts are ramped, 200 at a time; the *time to
configured* is measured from the start of each. Once all K are configured and idle the
worker's RSS is read; then each session sends one message, waits for the agent's answer
(the simulator's echo agent: ``"You said: ..."``; the *reply time* is from the send to the
answer) and closes.

Figures: sessions per second over the whole run, p50/p99 time to configured and reply
time, peak RSS, and RSS per idle configured session (``(RSS idle - RSS before) / K``, the
baseline taken after a warm-up session so that code paths and caches are already paid).
Goal (issue 20): 1,000 sessions with 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from collections import Counter
from typing import Any

import httpx

from webchat_async import MessageReceived, WebChatApi
from webchat_async.messaging import MessagingSession

from ._harness import (
    Check,
    Figure,
    Result,
    SimulatorProcess,
    Stats,
    peak_rss_kib,
    percentile,
    raise_open_files_limit,
    rss_kib,
    run_module,
)

__all__ = ["GOAL_ERRORS", "GOAL_K", "NAME", "TITLE", "run", "worker"]

NAME = "messaging_sessions"
TITLE = "Many concurrent Web Messaging sessions"
#: The issue's goal: 1,000 Web Messaging sessions in one process without error.
GOAL_ERRORS = 0
GOAL_K = 1000

ORIGIN = "https://shop.example"
_SESSION_TIMEOUT = 600.0
#: Sessions being started at once.
_RAMP = 200


def run(sim: SimulatorProcess, *, counts: tuple[int, ...] = (100, 1000), runs: int = 2) -> Result:
    """``runs`` worker processes for each K in ``counts``."""
    started = time.perf_counter()
    figures: list[Figure] = []
    checks: list[Check] = []
    notes: list[str] = []
    for k in counts:
        samples = [_worker_process(sim, k) for _ in range(runs)]
        errors = [s["errors"] for s in samples]
        figures += [
            Figure(
                f"k{k}_sessions_per_s",
                f"K={k}: sessions per second",
                Stats.of([s["sessions_per_s"] for s in samples], "sessions/s"),
            ),
            Figure(
                f"k{k}_configured_p50_ms",
                f"K={k}: time to configured, p50",
                Stats.of([s["configured_p50_ms"] for s in samples], "ms"),
            ),
            Figure(
                f"k{k}_configured_p99_ms",
                f"K={k}: time to configured, p99",
                Stats.of([s["configured_p99_ms"] for s in samples], "ms"),
            ),
            Figure(
                f"k{k}_reply_p50_ms",
                f"K={k}: send to the agent's answer, p50",
                Stats.of([s["reply_p50_ms"] for s in samples], "ms"),
            ),
            Figure(
                f"k{k}_reply_p99_ms",
                f"K={k}: send to the agent's answer, p99",
                Stats.of([s["reply_p99_ms"] for s in samples], "ms"),
            ),
            Figure(
                f"k{k}_peak_rss_mib",
                f"K={k}: peak RSS of the client",
                Stats.of([s["peak_rss_kib"] / 1024 for s in samples], "MiB"),
            ),
            Figure(
                f"k{k}_rss_per_session_kib",
                f"K={k}: RSS per idle configured session",
                Stats.of([s["rss_per_session_kib"] for s in samples], "KiB"),
            ),
            Figure(
                f"k{k}_errors",
                f"K={k}: sessions that failed",
                Stats.of([float(e) for e in errors], "sessions"),
            ),
        ]
        for sample in samples:
            for kind, count in sample["error_kinds"].items():
                notes.append(f"K={k}: {count} x {kind}")
        if k == max(counts):
            checks.append(
                Check.at_most(
                    f"{k} Web Messaging sessions: failed sessions (worst run)",
                    max(errors),
                    GOAL_ERRORS,
                    "sessions",
                )
            )
    if max(counts) < GOAL_K:
        notes.append(f"largest K was {max(counts)}: the {GOAL_K}-session goal was not run")
    return Result(
        name=NAME,
        title=TITLE,
        params={"counts": list(counts), "runs": runs, "messages_per_session": 1},
        figures=figures,
        checks=checks,
        notes=notes,
        seconds=time.perf_counter() - started,
    )


def _worker_process(sim: SimulatorProcess, k: int) -> dict[str, Any]:
    args = [
        "--worker",
        "--k",
        str(k),
        "--base-url",
        sim.base_url,
        "--deployment-id",
        sim.deployment_id,
    ]
    out = run_module("benchmarks.messaging_sessions", args, timeout=_SESSION_TIMEOUT + 120)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# -- the worker ---------------------------------------------------------------------------


async def _answer(session: MessagingSession, text: str) -> None:
    """Return once the agent's message ``text`` arrived."""
    async for event in session:
        if isinstance(event, MessageReceived) and not event.from_guest and event.text == text:
            return
    raise RuntimeError("the events ended before the agent answered")


async def worker(base_url: str, deployment_id: str, k: int) -> dict[str, Any]:
    """Run K Web Messaging sessions against the simulator at ``base_url``."""

    def start(api: WebChatApi) -> Any:
        return MessagingSession.start(
            deployment_id=deployment_id, base_url=base_url, origin=ORIGIN, api=api, proxy=None
        )

    # As in many_sessions: the sessions share one HTTP client (the history reads), whose
    # pool may hold a request longer than the default 10 s while the simulator works
    # through the others.
    timeout = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=60.0)
    ramp = asyncio.Semaphore(_RAMP)
    http = WebChatApi(base_url=base_url, timeout=timeout)
    try:
        # Warm-up: one whole session, so that the baseline RSS includes code and caches.
        async with start(http) as session:
            await session.send_message("warm-up")
            await asyncio.wait_for(_answer(session, "You said: warm-up"), 30)
        gc.collect()
        rss_before = rss_kib()

        configured: list[float] = []
        replies: list[float] = []
        errors: Counter[str] = Counter()
        idle = 0
        all_idle = asyncio.Event()
        go = asyncio.Event()

        def mark_idle() -> None:
            nonlocal idle
            idle += 1
            if idle == k:
                all_idle.set()

        async def one(n: int) -> None:
            marked = False
            ramping = False
            try:
                await ramp.acquire()
                ramping = True
                t0 = time.perf_counter()
                async with start(http) as session:
                    configured.append(time.perf_counter() - t0)
                    ramp.release()
                    ramping = False
                    marked = True
                    mark_idle()
                    await go.wait()
                    t1 = time.perf_counter()
                    await session.send_message(f"message {n}")
                    await _answer(session, f"You said: message {n}")
                    replies.append(time.perf_counter() - t1)
            except Exception as exc:
                errors[type(exc).__name__] += 1
            finally:
                if ramping:
                    ramp.release()
                if not marked:
                    mark_idle()

        async def guarded(n: int) -> None:
            try:
                await asyncio.wait_for(one(n), _SESSION_TIMEOUT)
            except asyncio.TimeoutError:
                errors["TimeoutError"] += 1

        t_start = time.perf_counter()
        tasks = [asyncio.get_running_loop().create_task(guarded(n)) for n in range(k)]
        await all_idle.wait()
        t_idle = time.perf_counter()
        gc.collect()
        rss_idle = rss_kib()
        fds = len(os.listdir("/proc/self/fd"))
        go.set()
        await asyncio.gather(*tasks)
        t_end = time.perf_counter()
    finally:
        await http.aclose()

    configured_ms = [t * 1e3 for t in configured] or [float("nan")]
    reply_ms = [t * 1e3 for t in replies] or [float("nan")]
    return {
        "k": k,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "seconds": t_end - t_start,
        "configure_seconds": t_idle - t_start,
        "sessions_per_s": k / (t_end - t_start),
        "configured_p50_ms": percentile(configured_ms, 0.50),
        "configured_p99_ms": percentile(configured_ms, 0.99),
        "reply_p50_ms": percentile(reply_ms, 0.50),
        "reply_p99_ms": percentile(reply_ms, 0.99),
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "rss_per_session_kib": (rss_idle - rss_before) / k,
        "peak_rss_kib": peak_rss_kib(),
        "open_fds_idle": fds,
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.messaging_sessions --worker --k K ...``: one worker run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.messaging_sessions")
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--k", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--deployment-id", required=True)
    args = parser.parse_args(argv)
    raise_open_files_limit()
    print(json.dumps(asyncio.run(worker(args.base_url, args.deployment_id, args.k))), flush=True)


if __name__ == "__main__":
    main()
