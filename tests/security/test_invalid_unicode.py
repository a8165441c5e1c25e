"""A lone surrogate from the server: an unknown event, and the session goes on.

JSON can carry ``"\\ud800"``, which decodes to a str no encoder takes. Before the fix, a
member id with one ended ``async for`` with ``UnicodeEncodeError`` (the member lookup's
URL), and a message id with one did the same at the next backfill (its ``after``). Such
a field does not decode (docs/protocol.md#unknown-malformed-stored-data): a frame becomes
an ``UnknownEvent``, a stored message too, a lookup answer is dropped with a warning.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from loopback import serving, start_guest

from webchat_async import _convert
from webchat_async._events import (
    MemberStateChanged,
    MessageReceived,
    TypingStarted,
    UnknownEvent,
    decode_frame,
)
from webchat_async._validate import segment
from webchat_async.errors import DecodeError, InvalidValueError
from webchat_async.models import WebChatMemberInfo, WebChatMessageEntityList

pytest.importorskip("aiohttp")

from aiohttp import ClientSession, web

from webchat_async.simulator import Simulator

CID = "c-1"
MESSAGES = f"v2.conversations.chats.{CID}.messages"
MEMBERS = f"v2.conversations.chats.{CID}.members"


def message_body(**changes: Any) -> dict[str, Any]:
    body = {
        "id": "m-1",
        "conversation": {"id": CID},
        "sender": {"id": "agent-1"},
        "body": "hello",
        "bodyType": "standard",
        "timestamp": "2024-05-01T12:00:00.000Z",
    }
    return {**body, **changes}


def frame(topic: str, body: Any, kind: str) -> str:
    # json.dumps writes non-ASCII as escapes: a lone surrogate as \ud800, as a server can.
    return json.dumps({"topicName": topic, "eventBody": body, "metadata": {"type": kind}})


BAD_FRAMES = {
    "message sender id": frame(MESSAGES, message_body(sender={"id": "\ud800"}), "message"),
    "message text": frame(MESSAGES, message_body(body="bad \udfff text"), "message"),
    "message id": frame(MESSAGES, message_body(id="m-\ud800"), "message"),
    "conversation id": frame(MESSAGES, message_body(conversation={"id": "\udbff"}), "message"),
    "member id": frame(
        MEMBERS, {"member": {"id": "\ud800", "state": "CONNECTED"}}, "member-change"
    ),
    "member conversation": frame(
        MEMBERS,
        {"member": {"id": "a-1", "state": "CONNECTED"}, "conversation": {"id": "\ud800"}},
        "member-change",
    ),
    "typing sender": frame(MESSAGES, {"id": "t-1", "sender": {"id": "\ud800"}}, "typing-indicator"),
    "media request id": frame(MESSAGES, {"id": "\ud800", "state": "PENDING"}, "media-request"),
}


@pytest.fixture(params=["orjson", "json.loads"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once with orjson (it refuses lone surrogates) and once without it."""
    if request.param == "json.loads":
        monkeypatch.setattr(_convert, "_fast_loads", None)
        monkeypatch.setattr(_convert, "_orjson_looked_up", True)
    return str(request.param)


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_a_frame_with_a_lone_surrogate_is_an_unknown_event(name: str, parser: str) -> None:
    text = BAD_FRAMES[name]
    event = decode_frame(text)
    assert isinstance(event, UnknownEvent)
    assert event.reason == "invalid unicode: a lone surrogate"
    repr(event).encode("utf-8")
    # The same frame with the surrogate written raw (a str from anywhere but a socket).
    raw = json.loads(text)
    event = decode_frame(json.dumps(raw, ensure_ascii=False))
    assert isinstance(event, UnknownEvent)
    event.raw.encode("utf-8")  # kept printable


def test_an_unknown_frame_keeps_a_printable_raw_text(parser: str) -> None:
    event = decode_frame('{"topicName": "v2.x", "eventBody": {"a": "\ud800"}}')
    assert isinstance(event, UnknownEvent)
    event.raw.encode("utf-8")
    assert "\\ud800" in event.raw


@pytest.mark.parametrize(
    "text",
    [
        frame(MESSAGES, message_body(body="smile \U0001f600 caf\u00e9"), "message"),  # pair
        json.dumps(
            {
                "topicName": MESSAGES,
                "eventBody": message_body(body="smile \U0001f600"),
                "metadata": {"type": "message"},
            },
            ensure_ascii=False,
        ),
        frame(MESSAGES, message_body(body="a literal \\ud800 in the text"), "message"),
    ],
    ids=["escaped pair", "raw UTF-8", "escaped backslash"],
)
def test_valid_text_decodes_as_before(text: str, parser: str) -> None:
    event = decode_frame(text)
    assert isinstance(event, MessageReceived)
    assert event.message.body == json.loads(text)["eventBody"]["body"]


def test_the_typing_and_member_frames_without_surrogates_still_decode() -> None:
    typing = decode_frame(frame(MESSAGES, {"id": "t", "sender": {"id": "é"}}, "typing-indicator"))
    assert isinstance(typing, TypingStarted) and typing.member_id == "é"
    member = decode_frame(
        frame(MEMBERS, {"member": {"id": "a-1", "state": "CONNECTED"}}, "member-change")
    )
    assert isinstance(member, MemberStateChanged)


def test_a_rest_answer_with_a_lone_surrogate_does_not_decode(parser: str) -> None:
    page = json.dumps({"entities": [message_body(), message_body(id="m-2", body="\ud800")]})
    with pytest.raises(DecodeError, match=r"lone surrogate.*\$\.entities\[1\]\.body"):
        _convert.loads(page, WebChatMessageEntityList)
    with pytest.raises(DecodeError, match=r"\$\.id"):
        _convert.loads(json.dumps({"id": "\ud800"}).encode(), WebChatMemberInfo)
    # UTF-8 bytes of a surrogate (CESU), which json.loads reads from bytes.
    with pytest.raises(DecodeError, match=r"\$\.id"):
        _convert.loads(b'{"id": "\xed\xa0\x80"}', WebChatMemberInfo)
    assert _convert.loads(json.dumps({"id": "\U0001f600"}), WebChatMemberInfo).id == "\U0001f600"


def test_an_id_with_a_lone_surrogate_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="member_id is not valid unicode") as info:
        segment("m-\ud800", "member_id")
    # The SDK's own error (a ValueError), not a UnicodeEncodeError from deep down.
    assert isinstance(info.value, InvalidValueError)
    assert not isinstance(info.value, UnicodeError)
    assert info.value.name == "member_id"


def test_may_hold_surrogates_is_never_wrong_when_it_says_no() -> None:
    for text in [*BAD_FRAMES.values(), '{"a": "\ud800"}', b'{"a": "\xed\xbf\xbf"}']:
        assert _convert.may_hold_surrogates(text)
    assert not _convert.may_hold_surrogates(frame(MESSAGES, message_body(), "message"))
    assert not _convert.may_hold_surrogates("caf\u00e9 \U0001f600".encode())


# -- end to end: the simulator's socket, and its messages endpoint behind a proxy ------


async def _events_until(session: Any, text: str, timeout: float = 10.0) -> list[Any]:
    """Events up to the message whose body is ``text``; raises what the session raises."""
    seen: list[Any] = []

    async def consume() -> None:
        async for event in session:
            seen.append(event)
            if isinstance(event, MessageReceived) and event.message.body == text:
                return

    await asyncio.wait_for(consume(), timeout)
    return seen


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(port=0, heartbeat_interval=None) as simulator:
        yield simulator


async def test_frames_with_lone_surrogates_leave_the_session_going(sim: Simulator) -> None:
    async with start_guest(sim, "Ann") as session:
        cid = session.conversation_id
        await sim.wait_routed(cid)
        await sim.agent_say(cid, "first")
        await _events_until(session, "first")
        for text in BAD_FRAMES.values():
            text = text.replace(CID, cid)
            assert await sim.faults.send_raw(text, cid) == 1
        await sim.agent_say(cid, "after")
        events = await _events_until(session, "after")
    unknown = [e for e in events if isinstance(e, UnknownEvent)]
    assert len(unknown) == len(BAD_FRAMES)
    assert {e.reason for e in unknown} == {"invalid unicode: a lone surrogate"}
    assert all("\ud800" not in e.raw for e in unknown)


def _rewriting_proxy(target: str, marker: str, replacement: str) -> web.Application:
    """REST in front of the simulator; in its answers ``marker`` becomes ``replacement``
    (JSON text): a hostile messages endpoint."""

    async def forward(request: web.Request) -> web.Response:
        async with ClientSession() as client:
            async with client.request(
                request.method,
                target + request.rel_url.path_qs,
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                data=await request.read(),
            ) as answer:
                body = (await answer.read()).replace(marker.encode(), replacement.encode())
                return web.Response(
                    status=answer.status, body=body, content_type=answer.content_type
                )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def test_a_stored_message_with_a_lone_surrogate_is_an_unknown_event(
    sim: Simulator,
) -> None:
    # The socket drops, the agent says three things meanwhile; the backfill reads them
    # from the messages endpoint, where the middle one's text and id hold a surrogate.
    proxy = _rewriting_proxy(sim.base_url, "BAD-MARK", "bad \\ud800")
    async with serving(proxy) as proxy_url:
        async with start_guest(sim, "Ann", base_url=proxy_url) as session:
            cid = session.conversation_id
            await sim.wait_routed(cid)
            await sim.agent_say(cid, "first")
            await _events_until(session, "first")
            sim.faults.drop_sockets(cid)
            conversation = sim.state.conversations[cid]
            agent = conversation.agent_member_id
            assert agent is not None
            conversation.add_message(agent, "missed")
            conversation.add_message(agent, "BAD-MARK")
            conversation.add_message(agent, "missed too")
            events = await _events_until(session, "missed too")
            await sim.agent_say(cid, "live again")
            events += await _events_until(session, "live again")
    bodies = [e.message.body for e in events if isinstance(e, MessageReceived)]
    assert bodies == ["missed", "missed too", "live again"]
    unknown = [e for e in events if isinstance(e, UnknownEvent)]
    assert [e.reason for e in unknown] == ["a stored message does not decode"]
    unknown[0].raw.encode("utf-8")
