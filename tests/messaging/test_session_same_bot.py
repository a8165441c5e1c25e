"""One bot, written with the shared vocabulary only, runs unchanged on both protocols."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from loopback import start_guest
from wm_session_support import start as start_messaging

from webchat_async import ConversationEnded, GuestSession, MessageReceived, TypingStarted
from webchat_async.messaging import MessagingSession
from webchat_async.simulator import Simulator


async def bot(session: Any, ended: asyncio.Event) -> list[str]:
    """Says hello while showing itself typing, notes what the agent says and whether it
    typed, answers the agent's reply, and stops at the end of the conversation."""
    log: list[str] = []
    async with session.typing():
        await session.send_message("Hello")
    async for event in session.events():
        if isinstance(event, TypingStarted):
            log.append("typing")
        elif isinstance(event, MessageReceived) and event.text is not None:
            log.append(("me: " if event.from_guest else "agent: ") + event.text)
            if not event.from_guest and event.text == "You said: Hello":
                await session.send_message("Thanks, bye")
                ended.set()
        elif isinstance(event, ConversationEnded):
            log.append("ended")
            break
    return log


GREETING = "agent: Hello, I'm Sam. How can I help you today?"


def conversation_of(sim: Simulator, session: GuestSession | MessagingSession) -> str:
    if isinstance(session, GuestSession):
        return session.conversation_id
    return sim.messaging_conversation_id(session.token)


@pytest.mark.parametrize("protocol", ["webchat", "messaging"])
async def test_the_same_bot_on_either_protocol(simulator: Simulator, protocol: str) -> None:
    starter: Any = (
        start_guest(simulator, "Ann") if protocol == "webchat" else start_messaging(simulator)
    )
    async with starter as session:
        ended = asyncio.Event()
        run = asyncio.create_task(bot(session, ended))
        await asyncio.wait_for(ended.wait(), 10)
        conversation_id = conversation_of(simulator, session)
        await simulator.wait_routed(conversation_id)
        await simulator.agent_end(conversation_id)
        log = await asyncio.wait_for(run, 10)
    said = [entry for entry in log if entry != "typing"]
    # Web Chat v2 routes (and the agent greets) at creation, Web Messaging at the first
    # message: the greeting's place differs; everything else is the same.
    for entry in ("me: Hello", GREETING, "agent: You said: Hello", "me: Thanks, bye"):
        assert said.count(entry) == 1, (entry, said)
    order = [said.index(e) for e in ("me: Hello", "agent: You said: Hello", "me: Thanks, bye")]
    assert order == sorted(order)
    assert said[-1] == "ended"
    assert "typing" in log  # the agent typed before its reply
