"""The event stream side: frames as docs/protocol.md#the-event-stream spells them, and the
socket hub.

Frames are built once per event and sent as the same text to every socket of the
conversation. Heartbeats run per socket from a timer handle (no task per socket).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from .._convert import dump_json, format_datetime
from ..models import MemberState, WebChatMessage

__all__ = [
    "HEARTBEAT",
    "PONG",
    "SOCKET_CLOSING",
    "Hub",
    "Socket",
    "member_change_frame",
    "message_frame",
    "typing_frame",
]


# channel.metadata frames carry no "metadata" key at all, and real heartbeats no "version"
# either (docs/protocol.md#the-event-stream).
HEARTBEAT = dump_json(
    {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}
)
PONG = dump_json({"topicName": "channel.metadata", "eventBody": {"message": "pong"}})
#: Sent before a planned close (a restart, ``Simulator.drain``): the client reconnects.
SOCKET_CLOSING = dump_json({"topicName": "v2.system.socket_closing", "eventBody": {}})


def _event(topic: str, body: dict[str, Any], kind: str) -> str:
    return dump_json(
        {
            "topicName": topic,
            "version": "2",
            "eventBody": body,
            "metadata": {"CorrelationId": str(uuid.uuid4()), "type": kind},
        }
    )


def message_frame(conversation_id: str, message: WebChatMessage) -> str:
    """A ``message`` event for a stored message (same id as the messages endpoint)."""
    if message.sender is None or message.timestamp is None:
        raise ValueError("a message frame needs a stored message: sender and timestamp set")
    body = {
        "id": message.id,
        "conversation": {"id": conversation_id},
        "sender": {"id": message.sender.id},
        "body": message.body,
        "bodyType": str(message.body_type),
        "timestamp": format_datetime(message.timestamp),
    }
    return _event(f"v2.conversations.chats.{conversation_id}.messages", body, "message")


def typing_frame(conversation_id: str, typing_id: str, sender_id: str, timestamp: str) -> str:
    """A ``typing-indicator`` event (on the messages topic; typing is not a body type)."""
    body = {
        "id": typing_id,
        "conversation": {"id": conversation_id},
        "sender": {"id": sender_id},
        "timestamp": timestamp,
    }
    return _event(f"v2.conversations.chats.{conversation_id}.messages", body, "typing-indicator")


def member_change_frame(
    conversation_id: str, member_id: str, state: MemberState, timestamp: str
) -> str:
    """A ``member-change`` event: no top-level id and no role, as the service sends it."""
    body = {
        "member": {"id": member_id, "state": str(state)},
        "conversation": {"id": conversation_id},
        "timestamp": timestamp,
    }
    return _event(f"v2.conversations.chats.{conversation_id}.members", body, "member-change")


class Socket:
    """One attached websocket and the fault flags that apply to it."""

    __slots__ = ("beat", "beats", "conversation_id", "hung", "transport", "ws")

    def __init__(self, conversation_id: str, ws: web.WebSocketResponse, transport: Any) -> None:
        self.conversation_id = conversation_id
        self.ws = ws
        self.transport = transport
        #: A dead peer: nothing more is sent on this socket, pings go unanswered.
        self.hung = False
        #: The timer of this socket's next heartbeat (see ``Chats.attach``).
        self.beat: Any = None
        #: Heartbeats sent on this socket so far.
        self.beats = 0

    def __repr__(self) -> str:
        return f"<Socket conversation={self.conversation_id} hung={self.hung}>"

    async def send(self, text: str) -> bool:
        """Send one text frame unless hung or gone; returns whether it was sent."""
        if self.hung or self.ws.closed:
            return False
        try:
            await self.ws.send_str(text)
        except ConnectionError:
            # The peer went away between the check and the write; the reader loop
            # notices and detaches the socket.
            return False
        return True


class Hub:
    """The sockets of every conversation, and sending to them."""

    def __init__(self) -> None:
        self._by_conversation: dict[str, list[Socket]] = {}
        #: How many of the next event frames are sent twice (``duplicate_next_events``).
        self.duplicate_next = 0
        #: How many event frames to hold and then send in reverse (``reorder_next_events``).
        self.reorder_next = 0
        self._held: list[tuple[str, str]] = []
        #: Called as ``watcher(kind, conversation_id, frame)`` on each ``"publish"`` (before
        #: the frame faults), ``"attach"`` and ``"detach"`` (frame ``""``): the console's
        #: live view (``_console.py``). Empty unless a console is served.
        self.watchers: list[Callable[[str, str, str], None]] = []

    def __repr__(self) -> str:
        return f"<Hub sockets={self.count()}>"

    def attach(self, socket: Socket) -> int:
        """Register a socket; returns how many the conversation has now."""
        sockets = self._by_conversation.setdefault(socket.conversation_id, [])
        sockets.append(socket)
        for watcher in self.watchers:
            watcher("attach", socket.conversation_id, "")
        return len(sockets)

    def detach(self, socket: Socket) -> int | None:
        """Forget a socket; returns how many the conversation has left, or ``None`` if it
        was already gone (detaching twice is harmless)."""
        sockets = self._by_conversation.get(socket.conversation_id)
        if sockets is None or socket not in sockets:
            return None
        sockets.remove(socket)
        if not sockets:
            del self._by_conversation[socket.conversation_id]
        for watcher in self.watchers:
            watcher("detach", socket.conversation_id, "")
        return len(sockets)

    def sockets(self, conversation_id: str | None = None) -> list[Socket]:
        """A snapshot of the sockets of one conversation, or of all."""
        if conversation_id is not None:
            return list(self._by_conversation.get(conversation_id, ()))
        return [s for group in self._by_conversation.values() for s in group]

    def count(self, conversation_id: str | None = None) -> int:
        """How many sockets are attached (to one conversation, or in all)."""
        if conversation_id is not None:
            return len(self._by_conversation.get(conversation_id, ()))
        return sum(len(group) for group in self._by_conversation.values())

    async def publish(self, conversation_id: str, frame: str) -> int:
        """Send an event frame to every socket of the conversation; returns how many got it.

        Nothing is queued for sockets that are not attached: events are not replayed. While
        ``reorder_next`` is set, frames are held until that many are, then sent newest first.
        """
        for watcher in self.watchers:
            watcher("publish", conversation_id, frame)
        if self.reorder_next > 0:
            self._held.append((conversation_id, frame))
            if len(self._held) < self.reorder_next:
                return 0
            self.reorder_next = 0
            return await self._release()
        # Frames still held when the switch was cleared go out (reversed) before this one.
        sent = await self._release() if self._held else 0
        return sent + await self._publish(conversation_id, frame)

    async def _release(self) -> int:
        held, self._held = self._held, []
        sent = 0
        for conversation_id, frame in reversed(held):
            sent += await self._publish(conversation_id, frame)
        return sent

    async def _publish(self, conversation_id: str, frame: str) -> int:
        sockets = self._by_conversation.get(conversation_id)
        if not sockets:
            return 0
        times = 1
        if self.duplicate_next > 0:
            self.duplicate_next -= 1
            times = 2
        sent = 0
        for socket in list(sockets):
            for _ in range(times):
                if await socket.send(frame):
                    sent += 1
        return sent

    async def send_raw(self, frame: str, conversation_id: str | None = None) -> int:
        """Send any text to the sockets of one conversation or all; returns how many."""
        return await _send_all(self.sockets(conversation_id), frame)


async def _send_all(sockets: Iterable[Socket], frame: str) -> int:
    sent = 0
    for socket in sockets:
        if await socket.send(frame):
            sent += 1
    return sent
