"""cancel_and_wait: stops a task without swallowing the caller's own cancellation; Waiters."""

from __future__ import annotations

import asyncio

import pytest

from webchat_async._aio import Waiters, cancel_and_wait, cancel_until_done


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


async def test_cancel_until_done_reaches_a_task_that_swallows_cancellations() -> None:
    async def swallows(times: int) -> int:
        for _ in range(times):
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                pass  # lost, as some libraries lose it
        await asyncio.Event().wait()
        return times

    plain = asyncio.create_task(asyncio.Event().wait())
    stubborn = [asyncio.create_task(swallows(n)) for n in (1, 3)]
    await asyncio.sleep(0)
    tasks = {plain, *stubborn}
    again = await cancel_until_done(tasks, every=0.001)
    assert all(task.cancelled() for task in tasks)
    assert again == set(stubborn)  # the plain one stopped at the first cancellation


async def test_cancel_until_done_retrieves_failures_and_skips_finished_tasks() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    done = asyncio.create_task(asyncio.sleep(0))
    failing = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    await done
    assert await cancel_until_done({done, failing}, every=1.0) == set()
    assert isinstance(failing.exception(), RuntimeError)
    assert not done.cancelled()


async def test_waiters_wake_every_wait_and_a_cancelled_wait_leaves_nothing() -> None:
    waiters = Waiters()
    assert not waiters
    first = asyncio.create_task(waiters.wait())
    second = asyncio.create_task(waiters.wait())
    cancelled = asyncio.create_task(waiters.wait())
    await asyncio.sleep(0)
    assert waiters
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    waiters.wake()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert not waiters
    later = asyncio.create_task(waiters.wait())  # a wake before a wait is not kept
    await asyncio.sleep(0)
    assert not later.done()
    waiters.wake()
    await asyncio.wait_for(later, 5)
