"""The transcript formatter: pure, one line per event, names learned from join events."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from webchat_async._events import (
    ConversationEnded,
    MemberJoined,
    MemberLeft,
    MemberStateChanged,
    MessageReceived,
    SessionClosed,
    SessionExpiring,
    StreamReconnected,
    TypingStarted,
    UnknownEvent,
)
from webchat_async.cli._transcript import Transcript
from webchat_async.messaging._models import AttachmentContent, Participant, StructuredMessage
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
    joined = t.line(
        MemberJoined(member_id="a1", state=MemberState.CONNECTED, member=agent, timestamp=T0)
    )
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


def _join_events(member_id: str) -> list[object]:
    agent = WebChatMemberInfo(id=member_id, display_name="Sam", role=MemberRole.AGENT)
    return [
        MemberStateChanged(member_id=member_id, state=MemberState.ALERTING, member=agent),
        MemberJoined(member_id=member_id, state=MemberState.CONNECTED, member=agent),
        _msg(member_id, "", BodyType.MEMBER_JOIN),
    ]


@given(st.permutations(range(3)), st.permutations(range(3)))
def test_one_line_per_join_and_per_leave_in_any_order(
    join_order: list[int], rejoin_order: list[int]
) -> None:
    t = Transcript(guest_id="g1")
    joins = _join_events("a1")
    lines = [t.line(joins[i]) for i in join_order]  # type: ignore[arg-type]
    shown = [line for line in lines if line is not None]
    assert len(shown) == 1 and shown[0].endswith(" joined the chat")
    leaves = [
        MemberLeft(member_id="a1", state=MemberState.DISCONNECTED),
        _msg("a1", "", BodyType.MEMBER_LEAVE),
    ]
    shown = [line for line in map(t.line, leaves) if line is not None]
    assert len(shown) == 1 and shown[0].endswith("* Sam (agent) left the chat")
    # Back again: a new join is a new line.
    lines = [t.line(joins[i]) for i in rejoin_order]  # type: ignore[arg-type]
    assert sum(line is not None for line in lines) == 1


def test_a_member_event_that_names_the_member_needs_no_lookup() -> None:
    t = Transcript(guest_id="g1")
    agent = WebChatMemberInfo(id="a1", display_name="Sam", role=MemberRole.AGENT)
    alerting = MemberStateChanged(member_id="a1", state=MemberState.ALERTING, member=agent)
    assert not t.needs_names(alerting)
    assert t.needs_names(MemberStateChanged(member_id="a2", state=MemberState.ALERTING))
    assert t.needs_names(_msg("a3", "hello"))


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3_000_000),  # the event's own timestamp (ms after T0), if it has one
            st.booleans(),
            st.integers(0, 3_000_000),  # the local clock when it is shown
        ),
        max_size=30,
    )
)
def test_line_times_never_go_backwards(events: list[tuple[int, bool, int]]) -> None:
    # Backfilled messages carry older service timestamps than lines already shown, and
    # events without one take the local clock: the transcript still reads in order.
    t = Transcript(guest_id="g1")
    shown: list[str] = []
    for event_ms, has_timestamp, clock_ms in events:
        when = T0 + datetime.timedelta(milliseconds=event_ms)
        event = (
            MessageReceived(message=WebChatMessage(id="m", body="x", timestamp=when))
            if has_timestamp
            else StreamReconnected(backfilled=1)
        )
        line = t.line(event, now=T0 + datetime.timedelta(milliseconds=clock_ms))
        assert line is not None
        shown.append(line[1:13])
    assert shown == sorted(shown)


# -- Web Messaging: no member ids, no roster; each message names its sender -----------------


def _wm(
    text: str | None,
    *,
    inbound: bool = False,
    kind: str = "Text",
    nickname: str | None = "Sam",
    bot: bool = False,
    content: tuple[AttachmentContent, ...] = (),
) -> MessageReceived[StructuredMessage]:
    message = StructuredMessage(
        id="w1",
        type=kind,
        direction="Inbound" if inbound else "Outbound",
        text=text,
        time=T0,
        sender=None if inbound else Participant(nickname=nickname),
        content=content,
        originating_entity="Bot" if bot else "Human",
    )
    return MessageReceived(message, inbound)


def test_messaging_lines_name_the_sender_and_the_guest() -> None:
    t = Transcript(guest_id=None, guest_name="Ann")
    typing = TypingStarted("", None, T0)  # as the Web Messaging core makes it
    assert t.needs_names(typing) is False and t.needs_names(_wm("hi")) is False
    first = t.line(typing)
    assert first is not None and first.endswith("  ... agent is typing")
    own = t.line(_wm("Where is it?", inbound=True))
    assert own is not None and own.endswith("Ann (you): Where is it?")
    said = t.line(_wm("On its way."))
    assert said is not None and said.endswith("Sam (agent): On its way.")
    local = T0.astimezone().strftime("%H:%M:%S.250")
    assert said.startswith(f"[{local}]")  # the message's channel.time
    again = t.line(typing)
    assert again is not None and again.endswith("  ... Sam (agent) is typing")
    bot = t.line(_wm("Beep.", nickname="Helper", bot=True))
    assert bot is not None and bot.endswith("Helper (bot): Beep.")
    anonymous = t.line(_wm("Hi", nickname=None))
    assert anonymous is not None and anonymous.endswith("member (agent): Hi")


def test_messaging_files_events_and_session_lines() -> None:
    t = Transcript(guest_id=None, guest_name="Ann")
    receipt = AttachmentContent(id="a1", filename="receipt.pdf")
    with_file = t.line(_wm("Here", content=(receipt,)))
    assert with_file is not None and with_file.endswith("Sam (agent): Here [file receipt.pdf]")
    only_file = t.line(_wm(None, inbound=True, kind="Structured", content=(receipt,)))
    assert only_file is not None and only_file.endswith("Ann (you): [file receipt.pdf]")
    assert t.line(_wm(None, kind="Event")) is None  # presence and the like
    card = t.line(_wm(None, kind="Structured"))
    assert card is not None and card.endswith("Sam (agent) [Structured]")
    expiring = t.line(SessionExpiring(expires_at=1000.0, remaining=59.6))
    assert expiring is not None and expiring.endswith(
        "the session expires in 60 s unless you write"
    )
    closed = t.line(SessionClosed("the same token connected elsewhere"))
    assert closed is not None
    assert closed.endswith("* the session was closed (the same token connected elsewhere)")
