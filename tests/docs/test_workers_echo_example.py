"""The echo handler of docs/workers.md, run as printed against the simulator's default agent
(issue 25, item 1): it answers each agent message once and does not loop.

The default agent answers every guest message with ``You said: <text>``; an echo bot that
answers every agent message fed it a loop (about 1,000 messages in 3 s, ending in a
``ValueError`` at 4,006 characters). Both sides are guarded now: the example ignores the
agent repeating its echoes, and the default agent does not answer a message that repeats it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from docs_blocks import block_defining

from webchat_async import Backoff, Event, GuestMemberInfo, MessageReceived, WebChatApi
from webchat_async.models import BodyType
from webchat_async.session import GuestSession
from webchat_async.simulator import Simulator
from webchat_async.simulator._agent import ECHO_PREFIX
from webchat_async.worker import Chat, Fleet, MemoryStore, Worker

pytest.importorskip("aiohttp")

Handler = Callable[[Chat, Event], Awaitable[None]]
GREETING = "Hello, I'm Sam. How can I help you today?"


def docs_echo() -> Handler:
    block = block_defining("workers.md", "echo")
    namespace: dict[str, Any] = {}
    exec(compile(block.code, f"docs/workers.md:{block.line}", "exec"), namespace)
    handler: Handler = namespace["echo"]
    return handler


def texts(sim: Simulator, conversation_id: str, *, guest: bool) -> list[str]:
    conversation = sim.state.conversations[conversation_id]
    return [
        m.body or ""
        for m in conversation.messages
        if m.body_type == BodyType.STANDARD
        and (m.sender is not None and m.sender.id == conversation.guest_member_id) is guest
    ]


async def test_the_docs_echo_handler_answers_the_default_agent_once_per_message() -> None:
    echo = docs_echo()
    handled: list[str] = []
    changed = asyncio.Condition()

    async def recording(chat: Chat, event: Event) -> None:
        await echo(chat, event)
        if isinstance(event, MessageReceived):
            handled.append(event.message.body or "")
        async with changed:
            changed.notify_all()

    async def handled_all(*bodies: str) -> None:
        async with changed:
            await asyncio.wait_for(changed.wait_for(lambda: set(bodies) <= set(handled)), 20)

    store = MemoryStore()
    async with Simulator(port=0, heartbeat_interval=None) as sim:  # the default agent
        async with WebChatApi(base_url=sim.base_url) as api, Worker(recording, store=store):
            started = await Fleet(store, api=api).start_chat(
                organization_id=sim.organization_id,
                deployment_id=sim.deployment_id,
                member_info=GuestMemberInfo(display_name="Bot"),
            )
            cid = started.conversation_id
            await handled_all(f"{ECHO_PREFIX}echo: {GREETING}")
            await sim.agent_say(cid, "Anything else?")
            # The agent's answer to the last echo handled: nothing is left to answer (the
            # agent speaks only to answer the guest), so the chat is quiet for good.
            await handled_all(f"{ECHO_PREFIX}echo: Anything else?")
            guest = texts(sim, cid, guest=True)
            agent = texts(sim, cid, guest=False)
    assert sorted(guest) == [f"echo: {text}" for text in ("Anything else?", GREETING)]
    assert sorted(agent) == sorted(
        [GREETING, "Anything else?", *(f"{ECHO_PREFIX}{g}" for g in guest)]
    )


async def test_the_default_agent_does_not_answer_its_own_answer_repeated(
    simulator: Simulator,
) -> None:
    async with GuestSession.start(
        organization_id=simulator.organization_id,
        deployment_id=simulator.deployment_id,
        member_info=GuestMemberInfo(display_name="Ann"),
        base_url=simulator.base_url,
        backoff=Backoff.none(),
        proxy=None,
    ) as session:
        await session.send_message("echo: You said: hello")
        await session.send_message("ping")
        # The agent answers in order: had it answered the first, that would come first.
        answer = await session.wait_for(
            lambda e: (
                isinstance(e, MessageReceived)
                and e.message.sender is not None
                and e.message.sender.id != session.member_id
                and (e.message.body or "").startswith(ECHO_PREFIX)
            ),
            timeout=10,
        )
    assert isinstance(answer, MessageReceived)
    assert answer.message.body == "You said: ping"
