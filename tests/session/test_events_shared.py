"""The vocabulary both protocols share (issue 20): ``MessageReceived`` has ``text``,
``message_id`` and ``from_guest`` on Web Chat v2 as on Web Messaging."""

from __future__ import annotations

import datetime
import json

from webchat_async._events import MessageReceived, decode_frame
from webchat_async._inbound import FetchPage, Inbound, Position
from webchat_async.messaging._wire import decode_frame as decode_messaging_frame
from webchat_async.models import WebChatMessage

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def chat_frame(message_id: str, sender: str, body: str, body_type: str = "standard") -> str:
    return json.dumps(
        {
            "topicName": "v2.conversations.chats.c1.messages",
            "version": "2",
            "eventBody": {
                "id": message_id,
                "conversation": {"id": "c1"},
                "sender": {"id": sender},
                "body": body,
                "bodyType": body_type,
                "timestamp": "2026-01-01T00:00:01.000Z",
            },
            "metadata": {"type": "message"},
        }
    )


def test_web_chat_text_is_the_body_of_standard_messages_only() -> None:
    standard = decode_frame(chat_frame("m1", "agent", "hello"))
    notice = decode_frame(chat_frame("m2", "agent", "joined", "member-join"))
    assert isinstance(standard, MessageReceived) and isinstance(notice, MessageReceived)
    assert (standard.text, standard.message_id) == ("hello", "m1")
    assert notice.text is None
    assert MessageReceived(WebChatMessage(id="m3", body="x")).text == "x"  # no body type


def test_web_chat_from_guest_is_set_by_the_inbound_core_for_the_guests_own_echo() -> None:
    inbound = Inbound(member_id="guest", position=Position(cursor="m0", timestamp=T0))
    inbound.attached()
    (page,) = [r for r in inbound.requests() if isinstance(r, FetchPage)]
    inbound.page_received(page, [], next_link=None)
    for frame in (chat_frame("m1", "guest", "mine"), chat_frame("m2", "agent", "theirs")):
        event = decode_frame(frame)
        assert isinstance(event, MessageReceived) and not event.from_guest  # the frame alone
        inbound.frame(event)
    taken = [inbound.take(), inbound.take()]
    assert [(e.text, e.from_guest) for e in taken if isinstance(e, MessageReceived)] == [
        ("mine", True),
        ("theirs", False),
    ]


def test_from_guest_takes_no_part_in_equality() -> None:
    message = WebChatMessage(id="m1", body="x")
    assert MessageReceived(message, True) == MessageReceived(message)


def test_web_messaging_message_received_has_the_same_vocabulary() -> None:
    body = {"id": "w1", "type": "Text", "text": "hi", "direction": "Inbound"}
    frame = {"type": "message", "class": "StructuredMessage", "code": 200, "body": body}
    message = decode_messaging_frame(json.dumps(frame)).body
    event = MessageReceived(message, message.inbound)  # type: ignore[arg-type,union-attr]
    assert (event.text, event.message_id, event.from_guest) == ("hi", "w1", True)
