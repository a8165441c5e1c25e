"""A worker that drives many guest sessions at once, and shuts down cleanly.

Each session sends a few lines and waits for an answer to each (a load test, or a bot
relaying answers). Ctrl-C, SIGTERM (a service manager stopping it) or the deadline cancel
the workers; every session still leaves its conversation and closes its socket on the way
out, and the worker exits 0.

    python examples/echo_bot_worker.py --sessions 20 --lines 3      # embedded simulator
    python examples/echo_bot_worker.py --organization-id ORG --deployment-id DEP --region eu-west-1
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

import attrs
from _target import Target, parser, target

from webchat_async import GuestMemberInfo, GuestSession, MessageReceived, WebChatApi
from webchat_async.models import BodyType


@attrs.define
class Tally:
    sessions: int = 0  # started so far
    sent: int = 0
    answered: int = 0
    failed: int = 0
    stopped: bool = False  # by Ctrl-C or SIGTERM


async def one_guest(
    api: WebChatApi, where: Target, n: int, lines: int, tally: Tally, total: int
) -> None:
    async with GuestSession.start(
        organization_id=where.organization_id,
        deployment_id=where.deployment_id,
        member_info=GuestMemberInfo(display_name=f"Load guest {n}"),
        api=api,  # one connection pool for every session of the worker
    ) as session:
        tally.sessions += 1
        if tally.sessions == total:
            print(f"{total} sessions chatting", flush=True)
        for i in range(lines):
            text = f"guest {n} line {i}"
            await session.send_message(text)
            tally.sent += 1
            # A plain `async for`, bounded by --deadline: a task cancelled inside
            # session.wait_for could hang while unwinding (2 of 15 SIGTERM runs).
            async for e in session.events():
                if (
                    isinstance(e, MessageReceived)
                    and e.message.body_type == BodyType.STANDARD
                    and e.message.sender is not None
                    and e.message.sender.id != session.member_id
                    and text in (e.message.body or "")
                ):
                    break
            tally.answered += 1


async def main(argv: list[str] | None = None) -> Tally:
    p = parser(__doc__ or "")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--lines", type=int, default=3)
    p.add_argument("--deadline", type=float, default=60.0, help="seconds before cancelling")
    args = p.parse_args(argv)
    tally = Tally()
    async with target(args) as where, WebChatApi(**where.where) as api:
        tasks = [
            asyncio.create_task(one_guest(api, where, n, args.lines, tally, args.sessions))
            for n in range(args.sessions)
        ]
        try:
            with _stop_on_signals() as stop:
                tally.stopped = await _until_done(tasks, stop, args.deadline)
        finally:
            # Cancellation is the shutdown signal: each session's `async with` leaves the
            # conversation and closes its stream while the task unwinds.
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        tally.failed = sum(
            1
            for r in results
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        )
    print(f"sessions={args.sessions} sent={tally.sent}", end=" ")
    print(f"answered={tally.answered} failed={tally.failed}", end="")
    print(" (stopped)" if tally.stopped else "", flush=True)
    return tally


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (handlers removed after)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows, nor outside the main thread: Ctrl-C then cancels asyncio.run.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _until_done(
    tasks: list[asyncio.Task[None]], stop: asyncio.Event, deadline: float
) -> bool:
    """Wait for every task, a stop signal or the deadline; whether a signal came first."""
    everything = asyncio.ensure_future(asyncio.wait(tasks))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait(
            {everything, stopped}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        everything.cancel()
        stopped.cancel()
        await asyncio.gather(everything, stopped, return_exceptions=True)
    return stop.is_set()


if __name__ == "__main__":
    result = asyncio.run(main())
    finished = result.answered == result.sent or result.stopped
    sys.exit(0 if result.failed == 0 and finished else 1)
