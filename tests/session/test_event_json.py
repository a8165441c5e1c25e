"""Events as JSON (issue 27, item 2): to_dict() on every event class, plain JSON types,
camelCase keys, the wire's names for model fields, ISO 8601 times, a "type" key."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async._events import (
    ConversationEnded,
    Event,
    MediaRequestReceived,
    MemberJoined,
    MemberLeft,
    MemberStateChanged,
    MessageReceived,
    SessionClosed,
    SessionExpiring,
    SocketClosing,
    StreamDisconnected,
    StreamReconnected,
    TypingStarted,
    UnknownEvent,
    decode_frame,
)
from webchat_async.messaging._wire import decode_message
from webchat_async.models import (
    BodyType,
    MediaRequestState,
    MemberState,
    WebChatConversation,
    WebChatGuestMediaRequest,
    WebChatMemberInfo,
    WebChatMessage,
    WebChatTyping,
)

T = datetime.datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=datetime.timezone.utc)
ISO = "2024-05-01T12:00:00.123Z"
CAMEL = re.compile(r"^[a-z][A-Za-z0-9]*$")

WM_MESSAGE = decode_message(
    {
        "id": "w1",
        "type": "Structured",
        "direction": "Outbound",
        "text": "Pick one",
        "channel": {"time": ISO, "messageId": "cm1", "from": {"nickname": "Sam"}},
        "content": [
            {"contentType": "QuickReply", "quickReply": {"text": "Yes", "payload": "y"}},
            {"contentType": "Card", "card": {"title": "t"}},
        ],
        "events": [{"eventType": "Typing", "typing": {"type": "On", "duration": 5000}}],
        "metadata": {"k": "v"},
    }
)
assert WM_MESSAGE is not None


def _member(state: MemberState) -> WebChatMemberInfo:
    return WebChatMemberInfo(id="m1", display_name="Ann", join_date=T, state=state)


EXAMPLES: list[Event] = [
    MessageReceived(
        WebChatMessage(
            id="m1",
            conversation=WebChatConversation(id="c1"),
            body="hi",
            body_type=BodyType.STANDARD,
            timestamp=T,
        ),
        from_guest=True,
    ),
    MessageReceived(WM_MESSAGE),
    TypingStarted("m2", "c1", T, WebChatTyping(id="t1", timestamp=T)),
    MemberStateChanged("m1", MemberState.ALERTING, _member(MemberState.ALERTING), "c1", T),
    MemberJoined("m1", MemberState.CONNECTED, _member(MemberState.CONNECTED), "c1", T),
    MemberLeft("m1", MemberState.DISCONNECTED, _member(MemberState.DISCONNECTED), "c1", None),
    MediaRequestReceived(WebChatGuestMediaRequest(id="r1", state=MediaRequestState.PENDING)),
    StreamDisconnected("closed", 1006),
    StreamReconnected(backfilled=2, attempts=3, downtime=1.5),
    ConversationEnded("left", history_complete=False),
    UnknownEvent('{"odd": true}', "unknown topic or type"),
    SessionExpiring(1700000000.0, 60.0),
    SessionClosed("elsewhere"),
    SocketClosing(),
]


def _all_event_classes(cls: type[Event] = Event) -> set[type[Event]]:
    out: set[type[Event]] = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_event_classes(sub)
    return out


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items()] + [k for v in value.values() for k in _keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


def _plain(value: Any) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    if type(value) is list:
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def test_every_event_class_has_an_example_and_serialises() -> None:
    assert {type(e) for e in EXAMPLES} == _all_event_classes()
    for event in EXAMPLES:
        data = event.to_dict()
        assert data["type"] == type(event).__name__
        assert _plain(data), data
        json.dumps(data, allow_nan=False)
        for key in _keys(data):
            # raw maps kept from the wire (metadata, an unmodelled content) are the
            # service's own keys; every key the SDK writes is camelCase.
            if key not in {"k", "card", "title"}:
                assert CAMEL.match(key), (type(event).__name__, key)


def test_web_chat_models_use_the_wire_names_and_iso_8601() -> None:
    message = EXAMPLES[0].to_dict()
    assert message == {
        "type": "MessageReceived",
        "message": {
            "id": "m1",
            "conversation": {"id": "c1"},
            "body": "hi",
            "bodyType": "standard",
            "timestamp": ISO,
        },
        "fromGuest": True,
        "messageId": "m1",
        "text": "hi",
    }
    joined = EXAMPLES[4].to_dict()
    assert joined["type"] == "MemberJoined"
    assert joined["member"] == {
        "id": "m1",
        "displayName": "Ann",
        "joinDate": ISO,
        "state": "CONNECTED",
    }
    assert joined["timestamp"] == ISO and joined["memberId"] == "m1"
    assert EXAMPLES[5].to_dict()["timestamp"] is None  # every event key is always there
    assert EXAMPLES[9].to_dict() == {
        "type": "ConversationEnded",
        "reason": "left",
        "historyComplete": False,
    }


def test_web_messaging_message_in_camel_case() -> None:
    data = EXAMPLES[1].to_dict()
    assert data["text"] == "Pick one" and data["messageId"] == "w1"
    assert data["fromGuest"] is False
    message = data["message"]
    assert message["time"] == ISO and message["channelMessageId"] == "cm1"
    assert message["sender"] == {"nickname": "Sam"}
    assert message["content"][0] == {"text": "Yes", "payload": "y"}
    assert message["content"][1]["contentType"] == "Card"
    assert message["events"] == [{"type": "On", "duration": 5000}]


_text = st.text(max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    body=st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=10)},
        optional={
            "body": _text,
            "bodyType": st.sampled_from(["standard", "notice", "member-join", "x-new"]),
            "timestamp": st.datetimes(timezones=st.just(datetime.timezone.utc)).map(
                lambda d: d.isoformat()
            ),
            "sender": st.fixed_dictionaries({"id": _text}),
        },
    ),
    kind=st.sampled_from(["message", "typing-indicator", None]),
)
def test_every_decoded_frame_serialises(body: dict[str, Any], kind: str | None) -> None:
    frame = {"topicName": "v2.conversations.chats.c1.messages", "eventBody": body}
    if kind is not None:
        frame["metadata"] = {"type": kind}
    event = decode_frame(json.dumps(frame))
    assert event is not None
    data = event.to_dict()
    assert _plain(data)
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text) == data
    if isinstance(event, MessageReceived) and event.message.timestamp is not None:
        parsed = datetime.datetime.fromisoformat(
            data["message"]["timestamp"].replace("Z", "+00:00")
        )
        assert parsed == event.message.timestamp
