"""The transcript formatter: pure, one line per event, names learned from join events."""

from __future__ import annotations

import datetime

from webchat_async._events import (
    ConversationEnded,
    MemberJoined,
    MessageReceived,
    StreamReconnected,
    TypingStarted,
    UnknownEvent,
)
from webchat_async.cli._transcript import Transcript
from webchat_async.models import (
    BodyType,
    MemberRole,
    MemberState,
    WebChatMemberInfo,
    WebChatMessage,
)

T0 = datetime.datetime(2026, 1, 2, 12, 0, 1, 250000, tzinfo=datetime.timezone.utc)


def _msg(sender: str, body: str, body_type: BodyType = BodyType.STANDARD) -> MessageReceived:
    return MessageReceived(
        message=WebChatMessage(
            id="m",
            sender=WebChatMemberInfo(id=sender),
            body=body,
            body_type=body_type,
            timestamp=T0,
        )
    )


def test_agent_name_comes_from_join_event() -> None:
    t = Transcript(guest_id="g1", guest_name="Ann")
    before = t.line(_msg("a1", "hi"))
    assert before is not None and "member a1" in before
    agent = WebChatMemberInfo(id="a1", display_name="Sam", role=MemberRole.AGENT)
    joined = t.line(MemberJoined(member_id="a1", state=MemberState.CONNECTED, member=agent))
    assert joined is not None and "Sam (agent)" in joined
    line = t.line(_msg("a1", "Hello there"))
    assert line is not None
    assert line.endswith("Sam (agent): Hello there")
    local = T0.astimezone().strftime("%H:%M:%S.250")
    assert line.startswith(f"[{local}]")


def test_guest_lines_are_labelled_you_and_own_typing_is_hidden() -> None:
    t = Transcript(guest_id="g1", guest_name="Ann")
    line = t.line(_msg("g1", "Hello"))
    assert line is not None and line.endswith("Ann (you): Hello")
    assert t.line(TypingStarted(member_id="g1")) is None
    other = t.line(TypingStarted(member_id="a1"))
    assert other is not None and "is typing" in other


def test_special_body_types_and_stream_events() -> None:
    t = Transcript(guest_id="g1")
    join = t.line(_msg("a1", "", BodyType.MEMBER_JOIN))
    assert join is not None and "joined the chat" in join
    reconnected = t.line(StreamReconnected(backfilled=3))
    assert reconnected is not None and "3 missed" in reconnected
    ended = t.line(ConversationEnded(reason="agent ended the chat"))
    assert ended is not None and "agent ended the chat" in ended
    assert t.line(UnknownEvent(raw="{}")) is None
