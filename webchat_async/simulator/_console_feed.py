"""What the console shows: a bounded timeline per conversation, the conversation list, and
the pages that follow them (docs/console.md).

Pure: no I/O, no asyncio. ``_console.py`` feeds it from the simulator's hooks (a new
conversation in :class:`SimulatorState`, each frame the :class:`Hub` publishes, each socket
attached or detached) and serves it. Messages come from the conversation's record (the
state), so a message stored without a push (``drop_before_echo``) is shown too; typing,
member changes, Web Messaging events and sockets come from the hooks, which are the only
place they exist. Every entry and queue is bounded: a busy simulator cannot make the
console grow without end.

An entry is a JSON object: ``{"seq", "at", "kind", "who", "name", "text"}``, ``kind`` one
of :data:`KINDS`, ``who`` one of ``"guest"``, ``"agent"``, ``"system"``, ``"console"``.
"""

from __future__ import annotations

import collections
import datetime
import json
from collections.abc import Callable, Iterable
from typing import Any

from .._convert import format_datetime, unstructure
from ..models import BodyType, MemberRole, WebChatMessage
from ._state import ConversationState, SimulatorState

__all__ = [
    "KINDS",
    "MAX_DECODED_FRAME",
    "MAX_ENTRY_TEXT",
    "MAX_EXPORT_MESSAGES",
    "MAX_LISTED",
    "MAX_PENDING",
    "MAX_TIMELINE",
    "ConsoleFeed",
    "Entry",
    "Subscriber",
    "entries_from_frame",
    "export_record",
    "summary",
    "transcript",
]

#: Entries kept per conversation; older ones leave the timeline (the record keeps them).
MAX_TIMELINE = 1_000
#: Entries queued for one page that reads too slowly; past it the page gets a new snapshot.
MAX_PENDING = 1_000
#: Conversations in the list, newest first.
MAX_LISTED = 500
#: Characters of one entry's text; longer texts are cut and say so.
MAX_ENTRY_TEXT = 8_192
#: Frames longer than this are not decoded: typing, member and event frames are small.
MAX_DECODED_FRAME = 16 * 1024
#: Messages in one export (JSON or transcript): the newest ones, and the export says so.
MAX_EXPORT_MESSAGES = 50_000

KINDS = ("created", "message", "notice", "member", "typing", "media", "event", "socket", "fault")

Entry = dict[str, Any]


def _cut(text: str) -> str:
    if len(text) <= MAX_ENTRY_TEXT:
        return text
    return text[:MAX_ENTRY_TEXT] + f"... [{len(text) - MAX_ENTRY_TEXT:,} more characters]"


def _who(conversation: ConversationState, member_id: str | None) -> str:
    if member_id is not None and member_id == conversation.guest_member_id:
        return "guest"
    if member_id is not None and member_id == conversation.agent_member_id:
        return "agent"
    member = conversation.members.get(member_id or "")
    if member is not None and member.role == MemberRole.AGENT:
        return "agent"
    return "system"


def _name(conversation: ConversationState, member_id: str | None) -> str:
    member = conversation.members.get(member_id or "")
    if member is not None and member.display_name:
        return member.display_name
    who = _who(conversation, member_id)
    return {"guest": "Guest", "agent": "Agent"}.get(who, "System")


def message_entry(conversation: ConversationState, message: WebChatMessage) -> tuple[str, str, str]:
    """``(kind, member id, text)`` of a stored message."""
    sender = message.sender.id if message.sender is not None else None
    body = message.body or ""
    name = _name(conversation, sender)
    kind = message.body_type
    if kind == BodyType.MEMBER_JOIN:
        return "member", sender or "", f"{name} joined"
    if kind == BodyType.MEMBER_LEAVE:
        return "member", sender or "", f"{name} left"
    if kind == BodyType.MEDIA_REQUEST:
        request = conversation.media_requests.get(body)
        types = "/".join(request.types or []) if request is not None else ""
        return "media", sender or "", f"{name} asks for {types or 'media'} (request {body})"
    if kind == BodyType.NOTICE:
        return "notice", sender or "", body
    return "message", sender or "", body


def entries_from_frame(conversation: ConversationState, frame: str) -> list[tuple[str, str, str]]:
    """``(kind, member id, text)`` for what a published frame shows beyond the record:
    typing, member state changes, Web Messaging events. Never raises; ``[]`` for a frame
    that shows nothing new (a message: the record has it), or that is not understood."""
    if len(frame) > MAX_DECODED_FRAME:
        return []
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):
        return []
    if not isinstance(data, dict):
        return []
    if "topicName" in data:
        return _web_chat(conversation, data)
    return _messaging(conversation, data)


def _web_chat(conversation: ConversationState, data: dict[str, Any]) -> list[tuple[str, str, str]]:
    metadata = data.get("metadata")
    body = data.get("eventBody")
    if not isinstance(metadata, dict) or not isinstance(body, dict):
        return []
    kind = metadata.get("type")
    if kind == "typing-indicator":
        sender = body.get("sender")
        member_id = sender.get("id") if isinstance(sender, dict) else None
        member_id = member_id if isinstance(member_id, str) else ""
        return [("typing", member_id, f"{_name(conversation, member_id)} is typing")]
    if kind == "member-change":
        member = body.get("member")
        if not isinstance(member, dict):
            return []
        member_id = member.get("id")
        state = member.get("state")
        if not isinstance(member_id, str) or not isinstance(state, str):
            return []
        return [("member", member_id, _cut(f"{_name(conversation, member_id)} is {state}"))]
    return []


def _messaging(conversation: ConversationState, data: dict[str, Any]) -> list[tuple[str, str, str]]:
    cls = data.get("class")
    if cls in ("SessionClearedEvent", "ConnectionClosedEvent"):
        return [("event", "", str(cls))]
    body = data.get("body")
    if cls != "StructuredMessage" or not isinstance(body, dict) or body.get("type") != "Event":
        return []
    member_id = (
        conversation.guest_member_id
        if body.get("direction") == "Inbound"
        else conversation.agent_member_id or ""
    )
    name = _name(conversation, member_id)
    events = body.get("events")
    out: list[tuple[str, str, str]] = []
    for event in events[:20] if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        if event.get("eventType") == "Typing":
            out.append(("typing", member_id, f"{name} is typing"))
        elif event.get("eventType") == "Presence":
            presence = event.get("presence")
            kind = presence.get("type") if isinstance(presence, dict) else None
            # A Disconnect is stored: the record shows it as "left".
            if isinstance(kind, str) and kind != "Disconnect":
                out.append(("event", member_id, _cut(f"{name}: Presence {kind}")))
    return out


def summary(conversation: ConversationState, *, read_only: bool = False) -> dict[str, Any]:
    """One row of the conversation list."""
    if conversation.ended or read_only:
        state = "ended"
    elif conversation.routed:
        state = "active"
    elif conversation.attached or conversation.protocol == "messaging":
        state = "waiting"
    else:
        state = "created"
    members = [
        {
            "id": m.id,
            "name": _cut(m.display_name or ""),
            "role": str(m.role) if m.role is not None else "",
            "state": str(m.state) if m.state is not None else "",
        }
        for m in list(conversation.members.values())[:20]
    ]
    return {
        "id": conversation.id,
        "protocol": conversation.protocol,
        "state": state,
        "guest": _name(conversation, conversation.guest_member_id),
        "members": members,
        "messageCount": len(conversation.messages),
        "sockets": conversation.socket_count,
        "attachments": conversation.attachments,
    }


def _export_messages(conversation: ConversationState) -> tuple[list[WebChatMessage], bool]:
    messages = conversation.messages
    if len(messages) > MAX_EXPORT_MESSAGES:
        return messages[-MAX_EXPORT_MESSAGES:], True
    return list(messages), False


def export_record(conversation: ConversationState) -> dict[str, Any]:
    """The simulator's record of a conversation, as JSON (the newest
    :data:`MAX_EXPORT_MESSAGES` messages; ``truncated`` says if older ones were left out)."""
    messages, truncated = _export_messages(conversation)
    return {
        "id": conversation.id,
        "protocol": conversation.protocol,
        "deploymentId": conversation.deployment_id,
        "guestMemberId": conversation.guest_member_id,
        "agentMemberId": conversation.agent_member_id,
        "routed": conversation.routed,
        "ended": conversation.ended,
        "members": [unstructure(m) for m in conversation.members.values()],
        "mediaRequests": [unstructure(r) for r in conversation.media_requests.values()],
        "messageCount": len(conversation.messages),
        "truncated": truncated,
        "messages": [unstructure(m) for m in messages],
    }


def transcript(conversation: ConversationState) -> str:
    """A readable transcript: one line per message, ``[time] Name: text``."""
    messages, truncated = _export_messages(conversation)
    lines = [f"Conversation {conversation.id} ({conversation.protocol})"]
    if truncated:
        lines.append(f"(the newest {len(messages):,} of {len(conversation.messages):,} messages)")
    for message in messages:
        kind, member_id, text = message_entry(conversation, message)
        stamp = message.timestamp.strftime("%H:%M:%S") if message.timestamp else "--:--:--"
        if kind == "message":
            line = f"[{stamp}] {_name(conversation, member_id)}: {text}"
        else:
            line = f"[{stamp}] * {text}"
        # One line per message: a text's own line breaks are indented under it.
        lines.append(line.replace("\r\n", "\n").replace("\n", "\n    "))
    return "\n".join(lines) + "\n"


class Subscriber:
    """One page following the console: the entries and list rows it has yet to receive.

    Args:
        conversation_id: the conversation whose timeline it follows (``None``: the list only).
        wake: called (synchronously) when there is something to send.
    """

    def __init__(self, conversation_id: str | None, wake: Callable[[], None]) -> None:
        self.conversation_id = conversation_id
        self._wake = wake
        self.entries: collections.deque[Entry] = collections.deque()
        self.dirty: dict[str, None] = {}
        #: More than :data:`MAX_PENDING` entries were waiting: send a snapshot instead.
        self.overflowed = False

    def __repr__(self) -> str:
        return f"<Subscriber conversation={self.conversation_id} pending={len(self.entries)}>"

    def add(self, conversation_id: str, entry: Entry | None) -> None:
        """Queue an entry (of its conversation) and mark the conversation's row changed."""
        self.dirty[conversation_id] = None
        if entry is not None and conversation_id == self.conversation_id and not self.overflowed:
            if len(self.entries) >= MAX_PENDING:
                self.overflowed = True
                self.entries.clear()
            else:
                self.entries.append(entry)
        self._wake()

    def take(self) -> tuple[bool, list[Entry], list[str]]:
        """``(overflowed, entries, changed conversation ids)``, and start afresh."""
        overflowed, self.overflowed = self.overflowed, False
        entries = list(self.entries)
        self.entries.clear()
        dirty = list(self.dirty)
        self.dirty.clear()
        return overflowed, entries, dirty


class _Timeline:
    __slots__ = ("entries", "next_seq", "synced")

    def __init__(self) -> None:
        self.entries: collections.deque[Entry] = collections.deque(maxlen=MAX_TIMELINE)
        self.next_seq = 1
        #: How many of the conversation's messages are on the timeline already.
        self.synced = 0


class ConsoleFeed:
    """The timelines of every conversation, and the pages following them.

    Args:
        state: the simulator's state (conversations and their records).
        clock: now, for the entries that are not stored messages.
        read_only: whether a Web Messaging conversation was ended by the agent.
    """

    def __init__(
        self,
        state: SimulatorState,
        *,
        clock: Callable[[], datetime.datetime],
        read_only: Callable[[str], bool] = lambda _id: False,
    ) -> None:
        self._state = state
        self._clock = clock
        self._read_only = read_only
        self._timelines: dict[str, _Timeline] = {}
        self.subscribers: set[Subscriber] = set()

    def __repr__(self) -> str:
        return f"<ConsoleFeed timelines={len(self._timelines)} pages={len(self.subscribers)}>"

    # -- what the hooks report ---------------------------------------------------------

    def created(self, conversation: ConversationState) -> None:
        """A new conversation."""
        self._entry(conversation, "created", "", "conversation created")

    def published(self, conversation_id: str, frame: str) -> None:
        """The hub published ``frame`` to the conversation's sockets."""
        conversation = self._state.conversations.get(conversation_id)
        if conversation is None:
            return
        self.sync(conversation)
        for kind, member_id, text in entries_from_frame(conversation, frame):
            self._entry(conversation, kind, member_id, text)
        self._changed(conversation_id)

    def socket(self, conversation_id: str, change: str, open_now: int) -> None:
        """A socket was attached (``change == "attach"``) or detached; ``open_now`` remain."""
        conversation = self._state.conversations.get(conversation_id)
        if conversation is None:
            return
        if change == "attach":
            # Chats.attach counts the attachment after the hub's hook: count this one too.
            number = conversation.attachments + 1
            what = "stream connected" if number == 1 else f"stream reconnected (#{number})"
        else:
            what = "stream closed"
        self._entry(conversation, "socket", "", f"{what}; {open_now} open")

    def note(self, conversation_id: str, kind: str, text: str) -> None:
        """An entry of the console's own (a fault it injected)."""
        conversation = self._state.conversations.get(conversation_id)
        if conversation is not None:
            self._entry(conversation, kind, "", text, who="console")

    def sync(self, conversation: ConversationState) -> None:
        """Put the conversation's new messages on its timeline."""
        timeline = self._timeline(conversation.id)
        messages = conversation.messages
        start = max(timeline.synced, len(messages) - MAX_TIMELINE)
        timeline.synced = len(messages)
        for message in messages[start:]:
            kind, member_id, text = message_entry(conversation, message)
            at = message.timestamp or self._clock()
            self._append(conversation, timeline, kind, member_id, text, at)

    # -- what the pages read -----------------------------------------------------------

    def subscribe(self, conversation_id: str | None, wake: Callable[[], None]) -> Subscriber:
        """A new page; read its :meth:`snapshot` before anything else is fed."""
        subscriber = Subscriber(conversation_id, wake)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """The page went away."""
        self.subscribers.discard(subscriber)

    def timeline(self, conversation_id: str) -> list[Entry]:
        """The conversation's timeline so far (at most :data:`MAX_TIMELINE` entries)."""
        conversation = self._state.conversations.get(conversation_id)
        if conversation is None:
            return []
        self.sync(conversation)
        return list(self._timeline(conversation_id).entries)

    def rows(self, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """List rows: of ``ids`` (those that exist), or the newest :data:`MAX_LISTED`."""
        conversations = self._state.conversations
        if ids is None:
            newest = list(reversed(conversations))[:MAX_LISTED]
        else:
            newest = [i for i in ids if i in conversations]
        return [summary(conversations[i], read_only=self._read_only(i)) for i in newest]

    # -- inside ------------------------------------------------------------------------

    def _timeline(self, conversation_id: str) -> _Timeline:
        timeline = self._timelines.get(conversation_id)
        if timeline is None:
            timeline = self._timelines[conversation_id] = _Timeline()
        return timeline

    def _entry(
        self,
        conversation: ConversationState,
        kind: str,
        member_id: str,
        text: str,
        *,
        who: str | None = None,
    ) -> None:
        self.sync(conversation)
        timeline = self._timeline(conversation.id)
        self._append(conversation, timeline, kind, member_id, text, self._clock(), who=who)
        self._changed(conversation.id)

    def _append(
        self,
        conversation: ConversationState,
        timeline: _Timeline,
        kind: str,
        member_id: str,
        text: str,
        at: datetime.datetime,
        *,
        who: str | None = None,
    ) -> None:
        entry: Entry = {
            "seq": timeline.next_seq,
            "at": format_datetime(at),
            "kind": kind,
            "who": who or _who(conversation, member_id or None),
            "name": _cut(_name(conversation, member_id or None)) if member_id else "",
            "text": _cut(text),
        }
        timeline.next_seq += 1
        timeline.entries.append(entry)
        for subscriber in self.subscribers:
            if subscriber.conversation_id == conversation.id:
                subscriber.add(conversation.id, entry)

    def _changed(self, conversation_id: str) -> None:
        for subscriber in self.subscribers:
            subscriber.add(conversation_id, None)
