"""A chat whose service is gone (issue 23): it cannot be resumed or streamed anywhere. It is
passed round the fleet until it has failed for ``give_up_after`` seconds with no event
committed, then removed, with the reason kept for ``status``. A conversation the service
reports gone is given up at once. Time is a fake clock (store and worker)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from fleet_support import Clock, EchoRecorder, watching

from webchat_async import Backoff, GuestMemberInfo, SessionOptions, WebChatApi
from webchat_async.simulator import Agent, Simulator
from webchat_async.worker import Fleet, SessionStore, Worker

BOUND = 30.0
GIVE_UP = 300.0  # fake seconds
LEASE = 10_000.0  # fake seconds: no lease runs out during a test


def failing_fast() -> SessionOptions:
    # A socket lost is given up at once (not after the service's two minutes).
    return SessionOptions(max_reconnect_window=0, backoff=Backoff.none(), open_timeout=2.0)


async def test_a_chat_whose_service_is_gone_is_given_up_after_give_up_after(
    st: SessionStore, clock: Clock
) -> None:
    # Failed before: the chat was released and claimed again for ever (every ~2 minutes
    # with the default reconnect window), never removed, no reason anywhere.
    pytest.importorskip("aiohttp")
    echo = EchoRecorder()
    worker = Worker(echo, store=st, lease=LEASE, scan_interval=0.01, give_up_after=GIVE_UP,
                    worker_id="A", clock=clock, session_options=failing_fast())  # fmt: skip
    with watching("not resumed here") as retried, watching("given up after") as gave_up:
        async with worker, contextlib.AsyncExitStack() as service:
            sim = await service.enter_async_context(
                Simulator(port=0, heartbeat_interval=None, agent=Agent(greeting="hi"))
            )
            async with WebChatApi(base_url=sim.base_url) as api:
                started = await Fleet(st, api=api).start_chat(
                    organization_id=sim.organization_id,
                    deployment_id=sim.deployment_id,
                    member_info=GuestMemberInfo(display_name="Bot"),
                )
            cid = started.conversation_id
            await echo.wait(lambda: any(c == cid for c, *_ in echo.handled), BOUND)
            await service.aclose()  # the service is gone: nothing answers on its port

            # Retried (released, claimed again, not resumed) while the clock stands still.
            await asyncio.wait_for(retried.seen.wait(), BOUND)
            assert not gave_up.seen.is_set()
            assert [c.conversation_id for c in (await st.status()).chats] == [cid]

            clock.now += GIVE_UP + 1
            await asyncio.wait_for(gave_up.seen.wait(), BOUND)
            await worker.wait_for(lambda w: not w.chats, timeout=BOUND)
    status = await st.status()
    assert status.chats == ()
    assert list(status.given_up) == [cid]
    reason = status.given_up[cid]
    assert reason.startswith("not resumed (") and "failing for 301 s" in reason, reason
    assert status.counters["given_up"] == 1


async def test_a_conversation_the_service_reports_gone_is_given_up_at_once_with_its_reason(
    st: SessionStore, clock: Clock
) -> None:
    pytest.importorskip("aiohttp")
    echo = EchoRecorder()
    async with Simulator(port=0, heartbeat_interval=None, agent=Agent(greeting="hi")) as sim:
        async with WebChatApi(base_url=sim.base_url) as api:
            started = await Fleet(st, api=api).start_chat(
                organization_id=sim.organization_id,
                deployment_id=sim.deployment_id,
                member_info=GuestMemberInfo(display_name="Bot"),
            )
        # The service forgets the conversation before any worker resumes it.
        del sim.state.conversations[started.conversation_id]
        worker = Worker(echo, store=st, lease=LEASE, scan_interval=0.01, worker_id="A",
                        clock=clock, session_options=failing_fast())  # fmt: skip
        with watching("cannot be resumed") as removed:
            async with worker:
                await asyncio.wait_for(removed.seen.wait(), BOUND)
                await worker.wait_for(lambda w: not w.chats, timeout=BOUND)
    status = await st.status()
    assert status.chats == ()
    assert status.given_up[started.conversation_id].startswith("the conversation is gone (")
