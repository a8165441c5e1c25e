"""Human-readable lines for session events: the CLI's transcript, kept pure for tests.

A :class:`Transcript` remembers who is who (member id -> display name and role) from the
events it has seen, and turns each event into one line such as::

    [12:00:01.250] Sam (agent): Hello, how can I help?

A member's arrival comes as up to three events (``ALERTING``, ``CONNECTED``, a
``member-join`` message, in an order that varies with backfill); the transcript shows one
line per join and per leave. Timestamps come from the service (messages) or the local clock
(the rest) and backfilled messages are older than what was already shown, so each line's time
is at least the previous line's: the transcript reads in order.

On Web Messaging there are no member ids and no roster: ``MessageReceived.from_guest`` tells
the guest's own lines, each message names its sender (``channel.from``), and a typing
indicator is the agent's (the last sender named, ``agent`` before any).
"""

from __future__ import annotations

import datetime

import attrs

from .._events import (
    ConversationEnded,
    Event,
    MediaRequestReceived,
    MemberJoined,
    MemberLeft,
    MemberStateChanged,
    MessageReceived,
    SessionClosed,
    SessionExpiring,
    StreamDisconnected,
    StreamReconnected,
    TypingStarted,
    UnknownEvent,
)
from ..messaging._models import AttachmentContent, StructuredMessage
from ..models import BodyType, WebChatMemberInfo, WebChatMessage

__all__ = ["Transcript"]


@attrs.define
class Transcript:
    """Formats events for a terminal, remembering member names as they join.

    Args:
        guest_id: the guest's own member id (its lines are labelled ``you``); ``None`` on
            Web Messaging, which has none (``from_guest`` tells the guest's lines).
        guest_name: the guest's display name.
        show_typing: whether typing indicators get a line of their own.
    """

    guest_id: str | None
    guest_name: str = "you"
    show_typing: bool = True
    _names: dict[str, str] = attrs.field(factory=dict, init=False)
    # Members whose join (leave) was shown and who have not left (rejoined) since.
    _present: set[str] = attrs.field(factory=set, init=False)
    _gone: set[str] = attrs.field(factory=set, init=False)
    _last: datetime.datetime | None = attrs.field(default=None, init=False)
    # Web Messaging: the label of the last sender other than the guest (typing is theirs).
    _agent: str | None = attrs.field(default=None, init=False)

    def remember(self, member: WebChatMemberInfo) -> None:
        """Learn a member's name and role (from a join event or a members listing)."""
        if member.id is None or member.id == self.guest_id:
            return
        name = member.display_name or member.first_name or "member"
        role = str(member.role).lower() if member.role is not None else None
        self._names[member.id] = f"{name} ({role})" if role else name

    def who(self, member_id: str | None) -> str:
        """The label of a member: ``you``, a remembered name, or a short id."""
        if member_id is None:
            return "system"
        if member_id == self.guest_id:
            return f"{self.guest_name} (you)"
        return self._names.get(member_id, f"member {member_id[:8]}")

    def needs_names(self, event: Event) -> bool:
        """Whether ``event`` names a member this transcript cannot name yet.

        After a reconnect or on the first attach, backfilled messages can arrive before
        the member events that introduce their senders; the caller then lists the members
        (``await session.members()``) and :meth:`remember` s them.
        """
        member_id: str | None = None
        if isinstance(event, MessageReceived):
            message = event.message
            if isinstance(message, WebChatMessage) and message.sender is not None:
                member_id = message.sender.id
        elif isinstance(event, TypingStarted):
            member_id = event.member_id
        elif isinstance(event, MemberStateChanged):
            if _named(event.member):
                return False  # the event names the member itself (the session fetched it)
            member_id = event.member_id
        # An empty id is Web Messaging's typing indicator: no member to look up.
        return bool(member_id) and member_id != self.guest_id and member_id not in self._names

    def note(self, text: str, now: datetime.datetime | None = None) -> str:
        """A timestamped line for something that is not an event (``* Ann accepted``).

        The time is ``now`` (default: the clock), or the previous line's if that is later.
        """
        when = now or datetime.datetime.now(datetime.timezone.utc)
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        if self._last is not None and when < self._last:
            when = self._last
        self._last = when
        return f"[{when.astimezone().strftime('%H:%M:%S.%f')[:-3]}] {text}"

    def line(self, event: Event, now: datetime.datetime | None = None) -> str | None:
        """One line for ``event``, or ``None`` for events not worth showing."""
        text = self._text(event)
        if text is None:
            return None
        return self.note(text, _timestamp_of(event) or now)

    def _text(self, event: Event) -> str | None:
        if isinstance(event, MessageReceived):
            msg: WebChatMessage | StructuredMessage = event.message
            if isinstance(msg, StructuredMessage):
                return self._structured(msg, event.from_guest)
            sender = msg.sender.id if msg.sender else None
            body = msg.body or ""
            if msg.body_type in (None, BodyType.STANDARD):
                return f"{self.who(sender)}: {body}"
            if msg.body_type == BodyType.MEMBER_JOIN:
                return self._joined(sender)
            if msg.body_type == BodyType.MEMBER_LEAVE:
                return self._left(sender)
            if msg.body_type == BodyType.MEDIA_REQUEST:
                return f"* {self.who(sender)} sent a media request"
            return f"{self.who(sender)} [{msg.body_type}]: {body}"
        if isinstance(event, TypingStarted):
            if not self.show_typing or event.member_id == self.guest_id:
                return None
            if not event.member_id:  # Web Messaging: only the agent's typing is shown
                return f"  ... {self._agent or 'agent'} is typing"
            return f"  ... {self.who(event.member_id)} is typing"
        if isinstance(event, MemberStateChanged) and _named(event.member):
            self.remember(event.member)
        if isinstance(event, MemberJoined):
            return self._joined(event.member_id)
        if isinstance(event, MemberLeft):
            return self._left(event.member_id)
        if isinstance(event, MemberStateChanged):
            return None  # ALERTING and the like: the join that follows gets the line
        if isinstance(event, MediaRequestReceived):
            kinds = ", ".join(event.request.types or []) or "media"
            return f"* media request {kinds} ({event.request.state})"
        if isinstance(event, StreamDisconnected):
            return f"! connection lost ({event.reason}); reconnecting"
        if isinstance(event, StreamReconnected):
            return f"! reconnected; {event.backfilled} missed message(s) recovered"
        if isinstance(event, SessionExpiring):
            return f"! the session expires in {event.remaining:.0f} s unless you write"
        if isinstance(event, SessionClosed):
            return f"* the session was closed ({event.reason})"
        if isinstance(event, ConversationEnded):
            return f"* the chat has ended ({event.reason})"
        if isinstance(event, UnknownEvent):
            return None
        return None

    def _structured(self, message: StructuredMessage, from_guest: bool) -> str | None:
        """A Web Messaging message: its text, the files it carries, or its type."""
        if from_guest:
            who = f"{self.guest_name} (you)"
        else:
            sender = message.sender
            name = (sender.nickname or sender.first_name) if sender is not None else None
            role = "bot" if message.originating_entity == "Bot" else "agent"
            who = f"{name or 'member'} ({role})"
            self._agent = who
        parts = [message.text] if message.text else []
        parts += [
            f"[file {content.filename or content.id or '?'}]"
            for content in message.content
            if isinstance(content, AttachmentContent)
        ]
        if parts:
            return f"{who}: {' '.join(parts)}"
        if message.type == "Event":
            return None  # presence and the like: the end comes as ConversationEnded
        return f"{who} [{message.type}]"

    def _joined(self, member_id: str | None) -> str | None:
        if member_id is not None:
            if member_id in self._present:
                return None
            self._present.add(member_id)
            self._gone.discard(member_id)
        return f"* {self.who(member_id)} joined the chat"

    def _left(self, member_id: str | None) -> str | None:
        if member_id is not None:
            if member_id in self._gone:
                return None
            self._gone.add(member_id)
            self._present.discard(member_id)
        return f"* {self.who(member_id)} left the chat"


def _named(member: WebChatMemberInfo) -> bool:
    return bool(member.display_name or member.first_name)


def _timestamp_of(event: Event) -> datetime.datetime | None:
    if isinstance(event, MessageReceived):
        message: WebChatMessage | StructuredMessage = event.message
        if isinstance(message, StructuredMessage):
            return message.time
        return message.timestamp
    if isinstance(event, (TypingStarted, MemberStateChanged)):
        return event.timestamp
    return None
