"""Conversation lifecycle: routing, the agent's turns, leaving, the reconnect grace timer.

Shared by the HTTP routes (the guest side) and ``Simulator.agent_*`` (the agent side).
Cost per conversation is kept small: at most one short-lived task (routing plus the agent's
pending replies; it ends when there is nothing left to do) and one ``call_later`` handle
while no socket is attached. No per-conversation heartbeat task.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from .._convert import format_datetime
from ..models import (
    BodyType,
    MemberRole,
    MemberState,
    WebChatConversation,
    WebChatGuestMediaRequest,
    WebChatMemberInfo,
    WebChatMessage,
    WebChatTyping,
)
from ._agent import Agent, ConversationView
from ._state import ConversationState, SimulatorState
from ._stream import HEARTBEAT, Hub, Socket, member_change_frame, message_frame, typing_frame

__all__ = ["Chats", "MessagingAgentSide"]


class MessagingAgentSide(Protocol):
    """The agent's actions in a Web Messaging conversation (``_messaging.py``)."""

    async def agent_say(self, conversation: ConversationState, text: str) -> WebChatMessage:
        """Send ``text`` as the agent."""

    async def agent_typing(self, conversation: ConversationState) -> WebChatTyping:
        """Show the agent typing."""

    async def agent_end(self, conversation: ConversationState) -> None:
        """End the conversation: ``Presence Disconnect``, read-only."""


class _Runtime:
    """Asyncio-side companions of one conversation (kept out of the pure state)."""

    __slots__ = (
        "attach_waiters",
        "beat_waiters",
        "beats",
        "ended",
        "grace",
        "pending",
        "routed",
        "socket_waiters",
        "task",
    )

    def __init__(self) -> None:
        self.routed = asyncio.Event()
        self.ended = asyncio.Event()
        self.pending: collections.deque[WebChatMessage] = collections.deque()
        self.task: asyncio.Task[None] | None = None
        self.grace: asyncio.TimerHandle | None = None
        #: ``(count, future)``: resolved when the conversation has ``count`` sockets.
        self.socket_waiters: list[tuple[int, asyncio.Future[None]]] = []
        #: ``(count, future)``: resolved once ``count`` sockets have ever been accepted.
        self.attach_waiters: list[tuple[int, asyncio.Future[None]]] = []
        #: Heartbeats sent to the conversation's sockets, and who waits for a count.
        self.beats = 0
        self.beat_waiters: list[tuple[int, asyncio.Future[None]]] = []

    def beaten(self) -> None:
        self.beats += 1
        keep = []
        for wanted, future in self.beat_waiters:
            if self.beats >= wanted:
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                keep.append((wanted, future))
        self.beat_waiters = keep

    def attached(self, total: int) -> None:
        keep = []
        for wanted, future in self.attach_waiters:
            if total >= wanted:
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                keep.append((wanted, future))
        self.attach_waiters = keep

    def sockets_changed(self, count: int) -> None:
        if not self.socket_waiters:
            return
        keep = []
        for wanted, future in self.socket_waiters:
            if wanted == count:
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                keep.append((wanted, future))
        self.socket_waiters = keep


class Chats:
    """Drives conversations: both the guest's calls and the scripted agent."""

    def __init__(
        self,
        state: SimulatorState,
        hub: Hub,
        agent: Agent,
        *,
        routing_delay: float,
        reconnect_grace: float | None,
        heartbeat_interval: float | None = None,
        heartbeats_on: Callable[[], bool] = lambda: True,
    ) -> None:
        self.state = state
        self.hub = hub
        self.agent = agent
        self.routing_delay = routing_delay
        self.reconnect_grace = reconnect_grace
        self.heartbeat_interval = heartbeat_interval
        self._heartbeats_on = heartbeats_on
        self._runtime: dict[str, _Runtime] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        #: Exceptions raised in background work (the agent's ``reply``, mostly); the
        #: simulator raises the first one when it stops.
        self.errors: list[BaseException] = []
        #: ``(method, path, count, future)``: resolved once ``count`` such requests were answered.
        self._request_waiters: list[tuple[str, str, int, asyncio.Future[None]]] = []
        #: The agent's side of Web Messaging conversations (set by its server).
        self.messaging: MessagingAgentSide | None = None

    def __repr__(self) -> str:
        return f"<Chats conversations={len(self.state.conversations)} tasks={len(self._tasks)}>"

    def runtime(self, conversation_id: str) -> _Runtime:
        runtime = self._runtime.get(conversation_id)
        if runtime is None:
            runtime = self._runtime[conversation_id] = _Runtime()
        return runtime

    # -- background work ---------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task owned here: cancelled by :meth:`close`, errors kept."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())  # type: ignore[arg-type]

    async def close(self) -> None:
        """Cancel timers and background tasks and wait for them."""
        self._closed = True
        for runtime in self._runtime.values():
            if runtime.grace is not None:
                runtime.grace.cancel()
                runtime.grace = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _kick(self, conversation: ConversationState) -> None:
        """Make sure the conversation's one agent task runs (routing, then replies)."""
        runtime = self.runtime(conversation.id)
        if runtime.task is None:
            runtime.task = self.spawn(self._agent_work(conversation, runtime))

    async def _agent_work(self, conversation: ConversationState, runtime: _Runtime) -> None:
        try:
            if not conversation.routed:
                if self.routing_delay > 0:
                    await asyncio.sleep(self.routing_delay)
                if conversation.ended:
                    return
                await self._join_agent(conversation, runtime)
            while runtime.pending and not conversation.ended:
                await self._answer(conversation, runtime.pending.popleft())
        finally:
            runtime.task = None

    # -- sockets -----------------------------------------------------------------------

    def created(self, conversation: ConversationState) -> None:
        """A conversation was created: if no socket ever attaches within the reconnect
        grace, the guest is removed (docs/protocol.md#the-event-stream)."""
        self._start_grace(conversation)

    def _start_grace(self, conversation: ConversationState) -> None:
        if self.reconnect_grace is None or conversation.ended or self._closed:
            return
        if conversation.protocol == "messaging":
            return  # Web Messaging sessions expire by their own TTL
        runtime = self.runtime(conversation.id)
        if runtime.grace is not None:
            runtime.grace.cancel()
        loop = asyncio.get_running_loop()
        runtime.grace = loop.call_later(self.reconnect_grace, self._grace_expired, conversation)

    def _schedule_beat(self, socket: Socket) -> None:
        if self.heartbeat_interval is None:
            return
        loop = asyncio.get_running_loop()
        socket.beat = loop.call_later(self.heartbeat_interval, self._beat, socket)

    def _beat(self, socket: Socket) -> None:
        # Each socket has its own rhythm, counted from its attach, as the service's.
        if socket not in self.hub.sockets(socket.conversation_id):
            return
        if self._heartbeats_on():
            self.spawn(self._send_beat(socket))
        self._schedule_beat(socket)

    async def _send_beat(self, socket: Socket) -> None:
        if await socket.send(HEARTBEAT):
            socket.beats += 1
            self.runtime(socket.conversation_id).beaten()

    async def wait_heartbeats(self, conversation_id: str, count: int) -> None:
        """Return once ``count`` heartbeats have been sent to the conversation's sockets."""
        if conversation_id not in self.state.conversations:
            raise KeyError(f"no conversation {conversation_id}")
        runtime = self.runtime(conversation_id)
        if runtime.beats >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        runtime.beat_waiters.append((count, future))
        await future

    def attach(self, conversation: ConversationState, socket: Socket) -> None:
        """A socket was accepted: count it, start its heartbeats; the first one ever starts
        routing."""
        conversation.socket_count = self.hub.attach(socket)
        self._schedule_beat(socket)
        conversation.attachments += 1
        runtime = self.runtime(conversation.id)
        runtime.sockets_changed(conversation.socket_count)
        runtime.attached(conversation.attachments)
        if runtime.grace is not None:
            runtime.grace.cancel()
            runtime.grace = None
        if not conversation.attached:
            conversation.attached = True
            self._kick(conversation)

    def detach(self, socket: Socket) -> None:
        """A socket is gone; with none left, the reconnect grace period starts."""
        if socket.beat is not None:
            socket.beat.cancel()
            socket.beat = None
        left = self.hub.detach(socket)
        if left is None:
            return
        conversation = self.state.conversations[socket.conversation_id]
        conversation.socket_count = left
        self.runtime(conversation.id).sockets_changed(left)
        if left == 0:
            self._start_grace(conversation)

    def _grace_expired(self, conversation: ConversationState) -> None:
        self.runtime(conversation.id).grace = None
        if conversation.socket_count == 0 and not conversation.ended:
            # Nobody is listening: the events go to no socket, but land in the state.
            self.spawn(self._end_for_guest(conversation))

    # -- events ------------------------------------------------------------------------

    async def _post(
        self, conversation: ConversationState, sender_id: str, body: str, body_type: BodyType
    ) -> WebChatMessage:
        message = conversation.add_message(sender_id, body, body_type)
        await self.hub.publish(conversation.id, message_frame(conversation.id, message))
        return message

    async def _member_state(
        self, conversation: ConversationState, member_id: str, state: MemberState
    ) -> None:
        conversation.set_member_state(member_id, state)
        stamp = format_datetime(self.state.clock())
        frame = member_change_frame(conversation.id, member_id, state, stamp)
        await self.hub.publish(conversation.id, frame)

    async def _typing(self, conversation: ConversationState, sender_id: str) -> WebChatTyping:
        now = self.state.clock()
        typing = WebChatTyping(
            id=self.state.ids(),
            conversation=WebChatConversation(id=conversation.id, self_uri=conversation.self_uri),
            sender=WebChatMemberInfo(id=sender_id),
            timestamp=now,
        )
        if typing.id is None:
            raise RuntimeError("the typing indicator was built without an id")
        frame = typing_frame(conversation.id, typing.id, sender_id, format_datetime(now))
        await self.hub.publish(conversation.id, frame)
        return typing

    async def _join_agent(self, conversation: ConversationState, runtime: _Runtime) -> None:
        agent_id = self.state.ids()
        conversation.add_member(
            WebChatMemberInfo(
                id=agent_id,
                display_name=self.agent.name,
                role=MemberRole.AGENT,
                state=MemberState.ALERTING,
                join_date=self.state.clock(),
            )
        )
        conversation.agent_member_id = agent_id
        stamp = format_datetime(self.state.clock())
        await self.hub.publish(
            conversation.id,
            member_change_frame(conversation.id, agent_id, MemberState.ALERTING, stamp),
        )
        await self._member_state(conversation, agent_id, MemberState.CONNECTED)
        conversation.routed = True
        await self._post(conversation, agent_id, "", BodyType.MEMBER_JOIN)
        runtime.routed.set()
        if self.agent.greeting is not None:
            await self._post(conversation, agent_id, self.agent.greeting, BodyType.STANDARD)

    async def _answer(self, conversation: ConversationState, message: WebChatMessage) -> None:
        text = await self.agent.reply(ConversationView(conversation), message)
        if text is None or conversation.ended or conversation.agent_member_id is None:
            return
        agent_id = conversation.agent_member_id
        await self._typing(conversation, agent_id)
        if self.agent.typing_delay > 0:
            await asyncio.sleep(self.agent.typing_delay)
        if not conversation.ended:
            await self._post(conversation, agent_id, text, BodyType.STANDARD)

    async def _end_for_guest(self, conversation: ConversationState) -> None:
        """The guest leaves: DISCONNECTED, ``member-leave``, sockets closed with 1000."""
        if conversation.ended:
            return
        guest_id = conversation.guest_member_id
        await self._member_state(conversation, guest_id, MemberState.DISCONNECTED)
        await self._post(conversation, guest_id, "", BodyType.MEMBER_LEAVE)
        sockets = self._finish(conversation)
        if sockets:
            # Closing waits for the client's close frame: not in the caller's request.
            self.spawn(_close_all(sockets))

    def _finish(self, conversation: ConversationState) -> list[Socket]:
        """Mark the chat ended, stop its timers, detach its sockets and return them."""
        conversation.ended = True
        runtime = self.runtime(conversation.id)
        runtime.ended.set()
        runtime.pending.clear()
        if runtime.grace is not None:
            runtime.grace.cancel()
            runtime.grace = None
        sockets = self.hub.sockets(conversation.id)
        for socket in sockets:
            self.detach(socket)
        return sockets

    # -- the guest's calls (validated by the routes) --------------------------------------

    async def guest_message(
        self, conversation: ConversationState, body: str, body_type: BodyType
    ) -> WebChatMessage:
        """The guest sends a message: stored, echoed on the stream, queued for the agent."""
        message = await self._post(conversation, conversation.guest_member_id, body, body_type)
        if body_type == BodyType.STANDARD:
            self.runtime(conversation.id).pending.append(message)
            self._kick(conversation)
        return message

    async def guest_typing(self, conversation: ConversationState) -> WebChatTyping:
        """The guest is typing: a typing indicator on the stream."""
        return await self._typing(conversation, conversation.guest_member_id)

    async def guest_leave(self, conversation: ConversationState) -> None:
        """The guest removes itself from the chat."""
        await self._end_for_guest(conversation)

    # -- the agent's side (Simulator.agent_*) ----------------------------------------------

    def _routed(self, conversation_id: str) -> tuple[ConversationState, str]:
        conversation = self.state.conversations.get(conversation_id)
        if conversation is None:
            raise KeyError(f"no conversation {conversation_id}")
        if conversation.agent_member_id is None:
            raise RuntimeError("the agent has not joined this conversation yet (see wait_routed)")
        if conversation.ended:
            raise RuntimeError("the conversation has ended")
        return conversation, conversation.agent_member_id

    async def wait_routed(self, conversation_id: str) -> None:
        """Return once the agent has joined the conversation."""
        if conversation_id not in self.state.conversations:
            raise KeyError(f"no conversation {conversation_id}")
        await self.runtime(conversation_id).routed.wait()

    async def wait_ended(self, conversation_id: str) -> None:
        """Return once the chat has ended for the guest."""
        if conversation_id not in self.state.conversations:
            raise KeyError(f"no conversation {conversation_id}")
        await self.runtime(conversation_id).ended.wait()

    async def wait_sockets(self, conversation_id: str, count: int) -> None:
        """Return once the conversation has exactly ``count`` sockets attached."""
        conversation = self.state.conversations.get(conversation_id)
        if conversation is None:
            raise KeyError(f"no conversation {conversation_id}")
        if conversation.socket_count == count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.runtime(conversation_id).socket_waiters.append((count, future))
        await future

    async def wait_attachments(self, conversation_id: str, count: int) -> None:
        """Return once ``count`` sockets have ever been accepted for the conversation."""
        conversation = self.state.conversations.get(conversation_id)
        if conversation is None:
            raise KeyError(f"no conversation {conversation_id}")
        if conversation.attachments >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.runtime(conversation_id).attach_waiters.append((count, future))
        await future

    def request_answered(self) -> None:
        """A REST request was logged in ``state.requests``: wake who waits for it."""
        if not self._request_waiters:
            return
        keep = []
        for method, path, count, future in self._request_waiters:
            if future.done():
                continue
            if self.state.count_requests(method, path) >= count:
                future.set_result(None)
            else:
                keep.append((method, path, count, future))
        self._request_waiters = keep

    async def wait_requests(self, method: str, path: str, count: int) -> None:
        """Return once ``count`` ``method`` requests to ``path`` have been answered."""
        if self.state.count_requests(method, path) >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._request_waiters.append((method, path, count, future))
        await future

    async def agent_say(self, conversation_id: str, text: str) -> WebChatMessage:
        """The agent sends ``text``."""
        conversation, agent_id = self._routed(conversation_id)
        if self.messaging is not None and conversation.protocol == "messaging":
            return await self.messaging.agent_say(conversation, text)
        return await self._post(conversation, agent_id, text, BodyType.STANDARD)

    async def agent_typing(self, conversation_id: str) -> WebChatTyping:
        """The agent is typing."""
        conversation, agent_id = self._routed(conversation_id)
        if self.messaging is not None and conversation.protocol == "messaging":
            return await self.messaging.agent_typing(conversation)
        return await self._typing(conversation, agent_id)

    async def agent_request_media(
        self, conversation_id: str, types: list[str]
    ) -> WebChatGuestMediaRequest:
        """The agent asks the guest for media; a ``media-request`` message announces it.

        **[choice]** The message body is the media request's id, so a client can fetch it
        without listing them all.
        """
        conversation, agent_id = self._routed(conversation_id)
        if conversation.protocol == "messaging":
            raise RuntimeError("media requests are a Web Chat v2 feature")
        request = conversation.add_media_request(types)
        if request.id is None:
            raise RuntimeError("the stored media request has no id")
        await self._post(conversation, agent_id, request.id, BodyType.MEDIA_REQUEST)
        return request

    async def agent_end(self, conversation_id: str) -> None:
        """The agent leaves and ends the chat: agent and guest DISCONNECTED, sockets closed."""
        conversation, agent_id = self._routed(conversation_id)
        if self.messaging is not None and conversation.protocol == "messaging":
            await self.messaging.agent_end(conversation)
            return
        await self._member_state(conversation, agent_id, MemberState.DISCONNECTED)
        await self._post(conversation, agent_id, "", BodyType.MEMBER_LEAVE)
        guest_id = conversation.guest_member_id
        await self._member_state(conversation, guest_id, MemberState.DISCONNECTED)
        sockets = self._finish(conversation)
        if sockets:
            await _close_all(sockets)


async def _close_all(sockets: list[Socket], code: int = 1000) -> None:
    await asyncio.gather(*(s.ws.close(code=code) for s in sockets), return_exceptions=True)
