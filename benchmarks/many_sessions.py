"""4. Many sessions: K concurrent ``GuestSession`` objects on one shared ``WebChatApi``.

Each run is a fresh worker process (``python -m benchmarks.many_sessions --worker``), so
that its resident memory is the sessions' and nothing left over from another benchmark.
In the worker, every session is created and attached and waits for the agent's greeting
(the *time to first agent message*, from the start of its creation; starts are ramped,
200 at a time); once all K are
attached and idle the worker's RSS is read; then each session sends 5 messages, one after
the other, waiting for the agent's answer to each, and closes (leaving the chat).

Figures: sessions per second over the whole run, p50/p99 time to first agent message,
peak RSS, and RSS per idle attached session (``(RSS idle - RSS before) / K``, the
baseline taken after a warm-up session so that code paths and caches are already paid).
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

from webchat_async.api import WebChatApi
from webchat_async.models import BodyType, GuestMemberInfo
from webchat_async.session import Event, GuestSession, MessageReceived

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

__all__ = ["GOAL_ERRORS", "GOAL_RSS_KIB", "NAME", "TITLE", "run", "worker"]

NAME = "many_sessions"
TITLE = "Many concurrent sessions"
#: The issue's goals: 1,000 sessions without error; at most 100 KiB RSS per idle session.
GOAL_ERRORS = 0
GOAL_RSS_KIB = 35.0
GOAL_K = 5000

MESSAGES = 5
_SESSION_TIMEOUT = 600.0
#: Sessions being started (created, attached, greeted) at once.
_RAMP = 200


def run(
    sim: SimulatorProcess, *, counts: tuple[int, ...] = (100, 500, 1000), runs: int = 3
) -> Result:
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
                f"k{k}_ttfm_p50_ms",
                f"K={k}: time to first agent message, p50",
                Stats.of([s["ttfm_p50_ms"] for s in samples], "ms"),
            ),
            Figure(
                f"k{k}_ttfm_p99_ms",
                f"K={k}: time to first agent message, p99",
                Stats.of([s["ttfm_p99_ms"] for s in samples], "ms"),
            ),
            Figure(
                f"k{k}_peak_rss_mib",
                f"K={k}: peak RSS of the client",
                Stats.of([s["peak_rss_kib"] / 1024 for s in samples], "MiB"),
            ),
            Figure(
                f"k{k}_rss_per_session_kib",
                f"K={k}: RSS per idle attached session",
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
                    f"{k} sessions: failed sessions (worst run)",
                    max(errors),
                    GOAL_ERRORS,
                    "sessions",
                )
            )
            rss = Stats.of([s["rss_per_session_kib"] for s in samples], "KiB")
            checks.append(
                Check.at_most(
                    f"{k} sessions: RSS per idle session", rss.median, GOAL_RSS_KIB, "KiB"
                )
            )
    if max(counts) < GOAL_K:
        notes.append(f"largest K was {max(counts)}: the {GOAL_K}-session goal was not run")
    return Result(
        name=NAME,
        title=TITLE,
        params={"counts": list(counts), "runs": runs, "messages_per_session": MESSAGES},
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
        "--organization-id",
        sim.organization_id,
        "--deployment-id",
        sim.deployment_id,
    ]
    out = run_module("benchmarks.many_sessions", args, timeout=_SESSION_TIMEOUT + 120)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# -- the worker ---------------------------------------------------------------------------


def _is_agent_text(member_id: str, body: str | None = None) -> Any:
    def match(event: Event) -> bool:
        if not isinstance(event, MessageReceived):
            return False
        message = event.message
        return (
            message.body_type == BodyType.STANDARD
            and message.sender is not None
            and message.sender.id != member_id
            and (body is None or message.body == body)
        )

    return match


async def worker(base_url: str, organization_id: str, deployment_id: str, k: int) -> dict[str, Any]:
    """Run K sessions against the simulator at ``base_url``; return the measurements."""
    member_info = GuestMemberInfo(display_name="Bench")

    def start(api: WebChatApi) -> Any:
        return GuestSession.start(
            organization_id=organization_id,
            deployment_id=deployment_id,
            member_info=member_info,
            api=api,
            proxy=None,
        )

    # 5,000 sessions share one pool of 100 connections: a request may queue for the pool
    # longer than the default 10 s while the (simulated) service works through the
    # others, so the wait allowed here is longer. Starts are ramped (_RAMP at a time), as
    # a load generator or a real front end would: all K handshakes at once only measure
    # the simulator's backlog.
    timeout = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=60.0)
    ramp = asyncio.Semaphore(_RAMP)
    async with WebChatApi(base_url=base_url, timeout=timeout) as api:
        # Warm-up: one whole session, so that the baseline RSS includes code and caches.
        async with start(api) as session:
            await session.wait_for(_is_agent_text(session.member_id), timeout=30)
            await session.send_message("warm-up")
            await session.wait_for(
                _is_agent_text(session.member_id, "You said: warm-up"), timeout=30
            )
        gc.collect()
        rss_before = rss_kib()

        ttfm: list[float] = []
        errors: Counter[str] = Counter()
        idle = 0
        all_idle = asyncio.Event()
        go = asyncio.Event()

        def mark_idle() -> None:
            nonlocal idle
            idle += 1
            if idle == k:
                all_idle.set()

        async def one() -> None:
            marked = False
            ramping = False
            try:
                await ramp.acquire()
                ramping = True
                t0 = time.perf_counter()
                async with start(api) as session:
                    me = session.member_id
                    await session.wait_for(_is_agent_text(me))
                    ttfm.append(time.perf_counter() - t0)
                    ramp.release()
                    ramping = False
                    marked = True
                    mark_idle()
                    await go.wait()
                    for i in range(MESSAGES):
                        await session.send_message(f"message {i}")
                        await session.wait_for(_is_agent_text(me, f"You said: message {i}"))
            except Exception as exc:
                errors[type(exc).__name__] += 1
            finally:
                if ramping:
                    ramp.release()
                if not marked:
                    mark_idle()

        async def guarded() -> None:
            try:
                await asyncio.wait_for(one(), _SESSION_TIMEOUT)
            except asyncio.TimeoutError:
                errors["TimeoutError"] += 1

        t_start = time.perf_counter()
        tasks = [asyncio.get_running_loop().create_task(guarded()) for _ in range(k)]
        await all_idle.wait()
        t_idle = time.perf_counter()
        gc.collect()
        rss_idle = rss_kib()
        fds = len(os.listdir("/proc/self/fd"))
        go.set()
        await asyncio.gather(*tasks)
        t_end = time.perf_counter()

    ms = [t * 1e3 for t in ttfm] or [float("nan")]
    return {
        "k": k,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "seconds": t_end - t_start,
        "attach_seconds": t_idle - t_start,
        "sessions_per_s": k / (t_end - t_start),
        "ttfm_p50_ms": percentile(ms, 0.50),
        "ttfm_p99_ms": percentile(ms, 0.99),
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "rss_per_session_kib": (rss_idle - rss_before) / k,
        "peak_rss_kib": peak_rss_kib(),
        "open_fds_idle": fds,
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.many_sessions --worker --k K ...``: one worker run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.many_sessions")
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--k", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--organization-id", required=True)
    parser.add_argument("--deployment-id", required=True)
    parser.add_argument("--profile", help="write a cProfile of the worker to this file")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    job = worker(args.base_url, args.organization_id, args.deployment_id, args.k)
    if args.profile:
        import cProfile

        with cProfile.Profile() as profile:
            result = asyncio.run(job)
        profile.dump_stats(args.profile)
    else:
        result = asyncio.run(job)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
