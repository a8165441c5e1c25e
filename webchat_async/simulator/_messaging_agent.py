"""The scripted agent's side of Web Messaging conversations: routing, the greeting, the
answers, and ``Simulator.agent_*`` (through ``Chats.messaging``).

The :class:`Agent` is the simulator's one agent: it gets a :class:`ConversationView` and the
guest's message as a ``WebChatMessage``, as in a Web Chat v2 chat; what it says goes out as
``Outbound`` ``StructuredMessage`` pushes (spec §4).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

from .._convert import format_datetime
from ..models import (
    BodyType,
    MemberRole,
    MemberState,
    WebChatConversation,
    WebChatMemberInfo,
    WebChatMessage,
    WebChatTyping,
)
from ._agent import ConversationView
from ._chat import Chats
from ._messaging_state import MessagingState, WmConversation, frame, structured
from ._state import ConversationState

__all__ = ["MessagingAgent", "Push"]

#: Sends one frame to every socket of a conversation.
Push = Callable[[WmConversation, dict[str, Any]], Awaitable[None]]


class MessagingAgent:
    """Drives the agent in every Web Messaging conversation. Its tasks are the
    simulator's (``Chats.spawn``): cancelled when it stops, their errors raised then."""

    def __init__(self, state: MessagingState, chats: Chats, push: Push) -> None:
        self.state = state
        self._chats = chats
        self._push = push
        self._pending: dict[str, collections.deque[WebChatMessage]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        chats.messaging = self

    def __repr__(self) -> str:
        return f"<MessagingAgent busy={len(self._tasks)}>"

    def start(self, conversation: WmConversation) -> None:
        """The guest's first message (or ``Join``): the agent is routed to the chat."""
        if not conversation.started:
            conversation.started = True
            self._kick(conversation)

    def queue(self, conversation: WmConversation, message: WebChatMessage) -> None:
        """A guest text message for the agent to answer."""
        self._pending.setdefault(conversation.id, collections.deque()).append(message)
        self._kick(conversation)

    def end_chat(self, conversation: WmConversation) -> None:
        """The chat ended for the guest (read-only, expired, cleared): no more answers."""
        chat = conversation.chat
        chat.ended = True
        self._pending.pop(chat.id, None)
        self._chats.runtime(chat.id).ended.set()

    def _kick(self, conversation: WmConversation) -> None:
        if conversation.id not in self._tasks:
            self._tasks[conversation.id] = self._chats.spawn(self._agent_work(conversation))

    async def _agent_work(self, conversation: WmConversation) -> None:
        chat = conversation.chat
        agent = self._chats.agent
        try:
            if not chat.routed:
                if self._chats.routing_delay > 0:
                    await asyncio.sleep(self._chats.routing_delay)
                if chat.ended:
                    return
                agent_id = self._chats.state.ids()
                chat.add_member(
                    WebChatMemberInfo(
                        id=agent_id,
                        display_name=agent.name,
                        role=MemberRole.AGENT,
                        state=MemberState.CONNECTED,
                        join_date=self._chats.state.clock(),
                    )
                )
                chat.agent_member_id = agent_id
                chat.routed = True
                self._chats.runtime(chat.id).routed.set()
                if agent.greeting is not None:
                    await self.agent_say(chat, agent.greeting)
            pending = self._pending.get(chat.id)
            while pending and not chat.ended:
                message = pending.popleft()
                text = await agent.reply(ConversationView(chat), message)
                if text is None or chat.ended:
                    continue
                await self.agent_typing(chat)
                if agent.typing_delay > 0:
                    await asyncio.sleep(agent.typing_delay)
                if not chat.ended:
                    await self.agent_say(chat, text)
        finally:
            self._tasks.pop(chat.id, None)

    def _conversation(self, chat: ConversationState) -> WmConversation:
        conversation = self.state.conversations.get(chat.id)
        if conversation is None or conversation.read_only:
            raise RuntimeError("the conversation has ended")
        return conversation

    async def agent_say(self, conversation: ConversationState, text: str) -> WebChatMessage:
        """The agent sends ``text``: stored, pushed as an ``Outbound`` message."""
        wm = self._conversation(conversation)
        name = self._chats.agent.name
        stored, body = wm.store(
            guest=False,
            text=text,
            body_type=BodyType.STANDARD,
            build=lambda message_id, at: structured(
                message_id, at, direction="Outbound", text=text, sender=name
            ),
        )
        await self._push(wm, frame("message", "StructuredMessage", 200, body))
        return stored

    async def agent_typing(self, conversation: ConversationState) -> WebChatTyping:
        """The agent types: an ``Outbound`` ``Typing`` event (spec §4), not stored."""
        wm = self._conversation(conversation)
        now = self._chats.state.clock()
        typing_id = self._chats.state.ids()
        event = {"eventType": "Typing", "typing": {"type": "On", "duration": 5000}}
        body = structured(
            typing_id,
            format_datetime(now),
            direction="Outbound",
            kind="Event",
            events=[event],
            sender=self._chats.agent.name,
        )
        await self._push(wm, frame("message", "StructuredMessage", 200, body))
        return WebChatTyping(
            id=typing_id,
            conversation=WebChatConversation(id=conversation.id, self_uri=conversation.self_uri),
            sender=WebChatMemberInfo(id=conversation.agent_member_id),
            timestamp=now,
        )

    async def agent_end(self, conversation: ConversationState) -> None:
        """The agent ends the conversation: ``Presence Disconnect`` with ``readOnly``
        (stored); from then on sends get 409 and the sockets stay open (spec §4)."""
        wm = self._conversation(conversation)
        event = {"eventType": "Presence", "presence": {"type": "Disconnect"}}
        name = self._chats.agent.name
        _, body = wm.store(
            guest=False,
            text="",
            body_type=BodyType.MEMBER_LEAVE,
            build=lambda message_id, at: structured(
                message_id,
                at,
                direction="Outbound",
                kind="Event",
                events=[event],
                metadata={"readOnly": "true"},
                sender=name,
            ),
        )
        wm.read_only = True
        self.end_chat(wm)
        await self._push(wm, frame("message", "StructuredMessage", 200, body))
