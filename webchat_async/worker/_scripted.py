"""A simulator agent for trying and testing a fleet (needs the ``simulator`` extra).

It says ``agent 1`` on joining, then ``agent k+1`` in answer to ``echo: agent k``, and ends
the chat after the answer to its last line: a chat is over exactly when every line was
answered, so counting the guest's messages per chat shows a lost or a doubled answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from ..models import GuestMemberInfo, WebChatMessage
from ..simulator import Agent, ConversationView, Simulator
from ._fleet import Fleet
from ._model import MESSAGING, ChatProtocol

__all__ = ["OPENING", "ORIGIN", "ScriptedAgent", "expected_answers", "guest_lines", "start_on"]

_PREFIX = "echo: agent "

#: What the guest of a Web Messaging demo chat says first (the simulator, like a
#: deployment without autostart, routes the conversation on the guest's first message).
OPENING = "hello"
#: The ``Origin`` of the demo's Web Messaging sessions.
ORIGIN = "https://demo.example"


async def start_on(fleet: Fleet, sim: Simulator, protocol: ChatProtocol, number: int) -> str:
    """Start a demo chat of ``protocol`` on ``sim`` through ``fleet``; returns its
    conversation id on the simulator (for a Web Messaging chat, not the fleet's id)."""
    if protocol == MESSAGING:
        token = str(uuid.uuid4())
        await fleet.start_messaging_chat(
            deployment_id=sim.deployment_id, origin=ORIGIN, token=token, first_message=OPENING
        )
        return sim.messaging_conversation_id(token)
    started = await fleet.start_chat(
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=GuestMemberInfo(display_name=f"Guest {number}"),
    )
    return started.conversation_id


def guest_lines(sim: Simulator, conversation_id: str) -> list[str]:
    """The guest's text lines of a demo chat, in order, without a Web Messaging chat's
    :data:`OPENING` line (the fleet's, not the handler's)."""
    conversation = sim.state.conversations[conversation_id]
    lines = [
        m.body or ""
        for m in conversation.messages
        if m.sender is not None
        and m.sender.id == conversation.guest_member_id
        and m.body_type in (None, "standard")
    ]
    if conversation.protocol == MESSAGING and lines[:1] == [OPENING]:
        del lines[0]
    return lines


def expected_answers(lines: int) -> list[str]:
    """What the guest says, in order, in a chat with a :class:`ScriptedAgent`."""
    return [f"{_PREFIX}{i}" for i in range(1, lines + 1)]


class ScriptedAgent(Agent):
    """``lines`` lines per chat; ``on_answer(conversation_id)`` after each guest answer.
    :meth:`bind` it to its simulator so it can end chats."""

    def __init__(self, lines: int, on_answer: Callable[[str], None] | None = None) -> None:
        if lines < 1:
            raise ValueError("lines must be >= 1")
        super().__init__(name="Sam", greeting="agent 1")
        self.lines = lines
        self._on_answer = on_answer
        self._simulator: Simulator | None = None
        self._ending: set[asyncio.Task[None]] = set()

    def bind(self, simulator: Simulator) -> None:
        """The simulator this agent speaks in (to end its chats)."""
        self._simulator = simulator

    async def reply(self, conversation: ConversationView, message: WebChatMessage) -> str | None:
        """The next line, or the end of the chat after the last one."""
        if self._on_answer is not None:
            self._on_answer(conversation.id)
        body = message.body or ""
        if not body.startswith(_PREFIX):
            return None
        try:
            number = int(body[len(_PREFIX) :])
        except ValueError:
            return None
        if number < self.lines:
            return f"agent {number + 1}"
        if number == self.lines and self._simulator is not None:
            task = asyncio.get_running_loop().create_task(self._end(conversation.id))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)
        return None

    async def _end(self, conversation_id: str) -> None:
        if self._simulator is None:
            raise RuntimeError("the scripted agent has no simulator")
        if not self._simulator.state.conversations[conversation_id].ended:
            try:
                await self._simulator.agent_end(conversation_id)
            except RuntimeError:
                pass  # the guest left meanwhile
