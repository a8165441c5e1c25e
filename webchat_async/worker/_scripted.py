"""A simulator agent for trying and testing a fleet (needs the ``simulator`` extra).

It says ``agent 1`` on joining, then ``agent k+1`` in answer to ``echo: agent k``, and ends
the chat after the answer to its last line: a chat is over exactly when every line was
answered, so counting the guest's messages per chat shows a lost or a doubled answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..models import WebChatMessage
from ..simulator import Agent, ConversationView, Simulator

__all__ = ["ScriptedAgent", "expected_answers"]

_PREFIX = "echo: agent "


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
