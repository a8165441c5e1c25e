"""decode_frame: every documented frame, and everything that must not crash it."""

from __future__ import annotations

import datetime
import json
import logging

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async._events import (
    MAX_FRAME_SIZE,
    MediaRequestReceived,
    MemberStateChanged,
    MessageReceived,
    SocketClosing,
    TypingStarted,
    UnknownEvent,
    decode_frame,
)
from webchat_async.models import BodyType, MediaRequestState, MemberState

CID = "c0ffee00-0000-4000-8000-000000000001"


def frame(topic: str, body: object, kind: str | None = None) -> str:
    data: dict[str, object] = {"topicName": topic, "version": "2", "eventBody": body}
    if kind is not None:
        data["metadata"] = {"CorrelationId": "x", "type": kind}
    return json.dumps(data)


def test_message_frame() -> None:
    text = frame(
        f"v2.conversations.chats.{CID}.messages",
        {
            "id": "m1",
            "conversation": {"id": CID},
            "sender": {"id": "agent-1"},
            "body": "Hello",
            "bodyType": "standard",
            "timestamp": "2024-05-01T12:00:00.123Z",
        },
        "message",
    )
    event = decode_frame(text)
    assert isinstance(event, MessageReceived)
    assert event.message.id == event.message_id == "m1"
    assert event.message.body == "Hello"
    assert event.message.body_type is BodyType.STANDARD
    assert event.message.sender is not None and event.message.sender.id == "agent-1"
    assert event.message.conversation is not None and event.message.conversation.id == CID
    assert event.message.timestamp == datetime.datetime(
        2024, 5, 1, 12, 0, 0, 123000, tzinfo=datetime.timezone.utc
    )


def test_a_decoded_message_event_is_the_constructors() -> None:
    # decode_frame builds MessageReceived through its slots, not its __init__: the result
    # must be the same object in every respect, and the class must still be one that
    # such a build fills whole (two fields, no validator, converter or post-init hook).
    fields = attrs.fields(MessageReceived)
    assert [f.name for f in fields] == ["message", "from_guest"]
    assert all(f.validator is None and f.converter is None for f in fields)
    assert not hasattr(MessageReceived, "__attrs_post_init__")
    text = frame(f"v2.conversations.chats.{CID}.messages", {"id": "m1"}, "message")
    event = decode_frame(text)
    assert isinstance(event, MessageReceived)
    built = MessageReceived(event.message)
    assert event == built and hash(event) == hash(built) and repr(event) == repr(built)
    assert event.from_guest is False
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.from_guest = True  # type: ignore[misc]


def test_message_bytes_frame_is_decoded_too() -> None:
    text = frame(f"v2.conversations.chats.{CID}.messages", {"id": "m1"}, "message")
    assert isinstance(decode_frame(text.encode()), MessageReceived)


def test_typing_frame() -> None:
    text = frame(
        f"v2.conversations.chats.{CID}.messages",
        {
            "id": "t1",
            "conversation": {"id": CID},
            "sender": {"id": "agent-1"},
            "timestamp": "2024-05-01T12:00:00Z",
        },
        "typing-indicator",
    )
    event = decode_frame(text)
    assert isinstance(event, TypingStarted)
    assert event.member_id == "agent-1"
    assert event.conversation_id == CID
    assert event.timestamp is not None and event.timestamp.year == 2024
    assert event.typing is not None and event.typing.id == "t1"


def test_member_change_frame() -> None:
    text = frame(
        f"v2.conversations.chats.{CID}.members",
        {
            "member": {"id": "agent-1", "state": "CONNECTED"},
            "conversation": {"id": CID},
            "timestamp": "2024-05-01T12:00:00Z",
        },
        "member-change",
    )
    event = decode_frame(text)
    assert type(event) is MemberStateChanged
    assert event.member_id == "agent-1"
    assert event.state is MemberState.CONNECTED
    assert event.member.id == "agent-1"
    assert event.conversation_id == CID
    assert event.timestamp is not None


def test_unknown_member_state_is_kept() -> None:
    text = frame(
        f"v2.conversations.chats.{CID}.members",
        {"member": {"id": "a", "state": "PARKED"}, "conversation": {"id": CID}},
        "member-change",
    )
    event = decode_frame(text)
    assert isinstance(event, MemberStateChanged)
    assert event.state == "PARKED"
    assert event.state is not None and not event.state.is_known


@pytest.mark.parametrize("message", ["WebSocket Heartbeat", "pong"])
def test_heartbeat_and_pong_are_none(message: str) -> None:
    assert (
        decode_frame(
            json.dumps({"topicName": "channel.metadata", "eventBody": {"message": message}})
        )
        is None
    )


def test_socket_closing() -> None:
    assert isinstance(
        decode_frame(json.dumps({"topicName": "v2.system.socket_closing"})), SocketClosing
    )


def test_separate_media_request_topic_is_tolerated() -> None:
    text = frame(
        f"v2.conversations.chats.{CID}.mediarequests",
        {"id": "mr1", "types": ["COBROWSE"], "state": "PENDING"},
        "media-request",
    )
    event = decode_frame(text)
    assert isinstance(event, MediaRequestReceived)
    assert event.request.id == "mr1"
    assert event.request.state is MediaRequestState.PENDING


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"topicName": "v2.conversations.chats', "invalid JSON"),
        ("[1, 2]", "not an object"),
        ('{"eventBody": {}}', "no topicName"),
        (frame("v2.simulator.unknown.topic", {"a": 1}, "unknown-type"), "unknown topic or type"),
        (frame(f"v2.conversations.chats.{CID}.messages", {"id": "m"}, "reaction"), "unknown"),
        (frame(f"v2.conversations.chats.{CID}.messages", {"body": "x"}, "message"), "without id"),
        (frame(f"v2.conversations.chats.{CID}.messages", "text", "message"), "no eventBody"),
        (frame(f"v2.conversations.chats.{CID}.messages", {"id": {"x": 1}}, "message"), "bad event"),
        (
            frame(
                f"v2.conversations.chats.{CID}.messages",
                {"id": "m", "timestamp": "soon"},
                "message",
            ),
            "bad event",
        ),
        (
            frame(f"v2.conversations.chats.{CID}.messages", {"id": "t"}, "typing-indicator"),
            "without sender",
        ),
        (
            frame(f"v2.conversations.chats.{CID}.members", {"member": "a"}, "member-change"),
            "bad event",
        ),
        (
            frame(
                f"v2.conversations.chats.{CID}.members",
                {"member": {"state": "CONNECTED"}},
                "member-change",
            ),
            "without member id",
        ),
        (
            frame(
                f"v2.conversations.chats.{CID}.members",
                {"member": {"id": "a"}, "timestamp": 5},
                "member-change",
            ),
            "bad event",
        ),
        (
            json.dumps({"topicName": "channel.metadata", "eventBody": {"message": "hi"}}),
            "channel.metadata",
        ),
        (
            json.dumps(
                {"topicName": f"v2.conversations.chats.{CID}.messages", "eventBody": {"id": "m"}}
            ),
            "unknown",
        ),
    ],
)
def test_bad_frames_become_unknown_events(text: str, reason: str) -> None:
    event = decode_frame(text)
    assert isinstance(event, UnknownEvent)
    assert event.raw == text
    assert reason in event.reason


def test_oversize_frame_is_not_parsed() -> None:
    text = json.dumps(
        {"topicName": "channel.metadata", "eventBody": {"message": "x" * MAX_FRAME_SIZE}}
    )
    event = decode_frame(text)
    assert isinstance(event, UnknownEvent)
    assert event.reason == "frame too large"
    assert len(event.raw) == 64 * 1024


def test_a_frame_that_is_not_utf8_is_unknown() -> None:
    event = decode_frame(b'{"a": "\xff\xfe"}')
    assert isinstance(event, UnknownEvent) and event.reason == "not UTF-8"
    assert event.raw == '{"a": "\ufffd\ufffd"}'


def test_unknown_frames_are_logged_redacted(caplog: pytest.LogCaptureFixture) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    with caplog.at_level(logging.DEBUG, logger="webchat_async.events"):
        event = decode_frame(f"not json {jwt}")
    assert isinstance(event, UnknownEvent)
    assert caplog.records and jwt not in caplog.text
    assert jwt not in repr(event)


@given(st.text(max_size=300))
def test_decode_never_raises_on_text(text: str) -> None:
    decode_frame(text)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@given(
    st.sampled_from(
        [
            f"v2.conversations.chats.{CID}.messages",
            f"v2.conversations.chats.{CID}.members",
            "channel.metadata",
            "x",
        ]
    ),
    st.sampled_from(["message", "typing-indicator", "member-change", "media-request", None]),
    _json,
)
def test_decode_never_raises_on_structured_garbage(
    topic: str, kind: str | None, body: object
) -> None:
    decode_frame(frame(topic, body, kind))


# -- the fast paths decide as the plain decoding does ----------------------------------
#
# decode_frame tells a message apart first and calls the structure functions directly
# (_convert.structurer); `reference` is the plain decoding it replaced (e8271bc): every
# test in the general order, and _convert.structure. Both must agree on every frame.


def reference(text: str) -> object:
    from webchat_async import _convert
    from webchat_async.errors import DecodeError
    from webchat_async.models import WebChatMessage

    try:
        data = _convert.parse_json(text)
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict):
        return "not an object"
    topic, body, metadata = data.get("topicName"), data.get("eventBody"), data.get("metadata")
    if not isinstance(topic, str) or not isinstance(body, dict):
        return "general path"
    if topic in ("channel.metadata", "v2.system.socket_closing"):
        return "general path"
    kind = metadata.get("type") if isinstance(metadata, dict) else None
    is_message = topic.startswith("v2.conversations.chats.") and topic.endswith(".messages")
    if not (is_message and kind == "message"):
        return "general path"
    try:
        message = _convert.structure(body, WebChatMessage)
    except DecodeError as exc:
        return UnknownEvent(text, f"bad event: {type(exc).__name__}")
    if not message.id:
        return UnknownEvent(text, "message without id")
    return MessageReceived(message)


_members = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b"]) | _json},
    optional={"displayName": st.sampled_from(["Ann", "Bob"]) | _json, "role": _json},
)
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["m1", "", "m2"]) | _json,
        "body": st.text(max_size=5) | _json,
        "bodyType": st.sampled_from(["standard", "notice", "new-kind"]) | _json,
        "timestamp": st.sampled_from(["2026-11-30T12:00:00.123Z", "2026-11-30T25:00:00.000Z"])
        | _json,
        "sender": _members | _json,
        "conversation": st.fixed_dictionaries({"id": st.sampled_from([CID]) | _json}) | _json,
    },
)


_topics = st.sampled_from(
    [
        f"v2.conversations.chats.{CID}.messages",
        f"v2.conversations.chats.{CID}.members",
        f"v2.conversations.chats.{CID}.typing",
        "v2.conversations.chats.messages",
        f"v2.conversations.{CID}.messages",
        "channel.metadata",
        "v2.system.socket_closing",
        None,
        7,
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    frames=st.lists(
        st.tuples(
            _topics,
            st.sampled_from(["message", "typing-indicator", "Message", None, 1]),
            _bodies | _json,
        ),
        max_size=6,
    )
)
def test_message_frames_decode_as_the_plain_decoding_does(
    frames: list[tuple[object, object, object]],
) -> None:
    for topic, kind, body in frames:
        text = json.dumps({"topicName": topic, "eventBody": body, "metadata": {"type": kind}})
        expected = reference(text)
        got = decode_frame(text)
        if expected == "general path":
            assert not isinstance(got, MessageReceived)
        else:
            assert got == expected
            assert repr(got) == repr(expected)
