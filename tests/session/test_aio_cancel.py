"""cancel_and_wait: stops a task without swallowing the caller's own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from webchat_async._aio import cancel_and_wait


async def test_the_callers_cancellation_is_not_swallowed() -> None:
    release = asyncio.Event()
    cancelled_inner = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled_inner.set()
            await release.wait()  # takes its time to clean up
            raise

    inner = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)  # let it start
    outer = asyncio.create_task(cancel_and_wait(inner))
    await cancelled_inner.wait()
    outer.cancel()  # the caller is cancelled while it waits for the task
    with pytest.raises(asyncio.CancelledError):
        await outer
    release.set()
    await asyncio.wait({inner})
    assert inner.cancelled()


async def test_a_task_that_failed_is_retrieved_not_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fails())
    await asyncio.wait({task})
    await cancel_and_wait(task)  # no raise; and no "never retrieved" warning (pytest errors)
    assert isinstance(task.exception(), RuntimeError)
