"""Small asyncio helpers shared by the session and the stream."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["Waiters", "cancel_and_wait", "cancel_until_done", "within"]

_T = TypeVar("_T")


async def within(timeout: float | None, awaitable: Awaitable[_T]) -> _T:
    """``await awaitable`` in the caller's own task, with an optional timeout.

    ``asyncio.wait_for`` before 3.12 runs the awaitable in a new task; a caller cancelled
    while that task had not yet started could wait on it forever (an echo worker's SIGTERM
    hung in 2 of 15 runs). ``asyncio.timeout`` (3.11+) cancels the caller itself instead.
    Raises ``asyncio.TimeoutError`` (the builtin ``TimeoutError`` from 3.11 on).
    """
    if timeout is None:
        return await awaitable
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(timeout):
            return await awaitable
    return await asyncio.wait_for(awaitable, timeout)  # pragma: no cover - 3.10


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has finished.

    Unlike ``task.cancel(); with suppress(CancelledError): await task``, a cancellation of
    the *caller* while it waits is not swallowed: ``asyncio.wait`` never raises the task's
    own ``CancelledError``, only the caller's. An exception the task ended with is
    retrieved (the task was being discarded), so asyncio does not report it as never
    retrieved.
    """
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()


async def cancel_until_done(tasks: set[asyncio.Task[Any]], every: float) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait for them, cancelling the ones still running again every
    ``every`` seconds; return the ones that needed more than one cancellation.

    asyncio delivers a cancellation once. Code that swallows it (redis-py's blocking calls,
    redis/redis-py#2028; ``asyncio.wait_for`` on 3.10 when the awaited result and the
    cancellation arrive together) then goes on, and a plain ``cancel_and_wait`` waits for
    as long as that code runs: a task waiting for an event that no longer comes waits for
    ever. Cancelling again reaches it at its next wait, which is what a cancel scope does.
    Each round leaves the task ``every`` seconds for the cleanup it does on cancellation.
    """
    stubborn: set[asyncio.Task[Any]] = set()
    pending = {task for task in tasks if not task.done()}
    first = True
    while pending:
        for task in pending:
            task.cancel()
            if not first:
                stubborn.add(task)
        first = False
        _, pending = await asyncio.wait(pending, timeout=every)
    for task in tasks:
        if not task.cancelled():
            task.exception()
    return stubborn


class Waiters:
    """Tasks waiting for "something changed": :meth:`wake` ends every :meth:`wait` (each
    waiter then checks again what there is for it). A cancelled wait leaves nothing
    behind. Truthy while someone waits."""

    __slots__ = ("_futures",)

    def __init__(self) -> None:
        self._futures: list[asyncio.Future[None]] = []

    def __bool__(self) -> bool:
        return bool(self._futures)

    async def wait(self) -> None:
        """Wait for the next :meth:`wake`."""
        future = asyncio.get_running_loop().create_future()
        self._futures.append(future)
        try:
            await future
        finally:
            self._futures.remove(future)

    def wake(self) -> None:
        """End every wait under way."""
        for future in self._futures:
            if not future.done():
                future.set_result(None)
