"""Small asyncio helpers shared by the session and the stream."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait"]


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
