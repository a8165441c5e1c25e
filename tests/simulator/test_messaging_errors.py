"""Web Messaging refusals with the codes of spec §5, and the bounds against a hostile
client: token length, frame size, text length, custom attributes, history page size."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets
from wm_wire import Guest, configured, history

from webchat_async.simulator import Simulator

TOO_MANY = {
    "type": "response",
    "class": "TooManyRequestsErrorMessage",
    "code": 429,
    "body": {
        "retryAfter": 3,
        "errorCode": 4029,
        "errorMessage": "Message rate too high for this session",
    },
}


def string_frame(code: int, body: str, tracing: str) -> dict[str, object]:
    return {"type": "response", "class": "string", "code": code, "body": body, "tracingId": tracing}


async def test_third_message_in_a_second_gets_4029_and_is_not_stored(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await configured(simulator)
    await guest.say("one")
    await guest.say("two")
    tracing = await guest.say("three")
    refused = await guest.until(lambda f: f.get("tracingId") == tracing)
    assert {k: v for k, v in refused.items() if k != "tracingId"} == TOO_MANY
    assert refused["tracingId"] == tracing
    echoes = [f["body"]["text"] for f in guest.seen if f.get("class") == "StructuredMessage"]
    assert echoes == ["one", "two"]
    page = (await history(http, await guest.jwt(), pageSize=100)).json()
    mine = [m["text"] for m in page["entities"] if m["direction"] == "Inbound"]
    assert mine == ["two", "one"]
    assert not any(
        f.get("class") == "StructuredMessage" and f["body"].get("text") == "three"
        for f in guest.seen
    )
    await guest.close()


async def test_rate_limit_is_per_session_and_switchable(simulator: Simulator) -> None:
    first = await configured(simulator)
    second = await configured(simulator)
    for guest in (first, second):
        await guest.say("a")
        await guest.say("b")
        await guest.echo_of("b")
    simulator.faults.messaging_rate_limit(1, retry_after=7)
    other = await configured(simulator)
    await other.say("x")
    tracing = await other.say("y")
    refused = await other.until(lambda f: f.get("tracingId") == tracing)
    assert refused["code"] == 429 and refused["body"]["retryAfter"] == 7
    for guest in (first, second, other):
        await guest.close()


async def test_message_too_long_is_4011(simulator: Simulator) -> None:
    guest = await configured(simulator)
    tracing = await guest.say("x" * 4097)
    refused = await guest.until(lambda f: f.get("tracingId") == tracing)
    assert refused["type"] == "response" and refused["class"] == "string"
    assert refused["code"] == 4011
    await guest.say("x" * 4096)
    await guest.echo_of("x" * 4096)
    await guest.close()


async def test_custom_attributes_over_2048_bytes_are_4013_even_on_join(
    simulator: Simulator,
) -> None:
    guest = await configured(simulator)
    big = {"metadata": {"customAttributes": {"k": "é" * 1100}}}  # 2,200 bytes of UTF-8
    join = {"eventType": "Presence", "presence": {"type": "Join"}}
    tracing = await guest.send(
        "onMessage", message={"type": "Event", "events": [join], "channel": big}
    )
    refused = await guest.until(lambda f: f.get("tracingId") == tracing)
    assert refused["class"] == "string" and refused["code"] == 4013
    tracing = await guest.say("hi", channel=big)
    refused = await guest.until(lambda f: f.get("tracingId") == tracing)
    assert refused["code"] == 4013
    fits = {"metadata": {"customAttributes": {"k": "v" * 2000}}}
    await guest.say("fits", channel=fits)
    await guest.echo_of("fits")
    await guest.close()


async def test_actions_before_configure_are_4007(simulator: Simulator) -> None:
    guest = await Guest.connect(simulator)
    for action in ("onMessage", "echo", "getJwt", "closeSession", "getAttachment"):
        answer = await guest.request(action, message={"type": "Text", "text": "x"})
        assert answer["class"] == "string" and answer["code"] == 4007, action
    await guest.configure()
    # Another token on this socket names no session of it.
    tracing = await guest.send("getJwt")
    await guest.ws.send(json.dumps({"action": "getJwt", "token": "other", "tracingId": "t2"}))
    assert (await guest.until(lambda f: f.get("tracingId") == tracing))["class"] == "JwtResponse"
    assert (await guest.until(lambda f: f.get("tracingId") == "t2"))["code"] == 4007
    await guest.close()


async def test_malformed_and_unknown_frames_are_400(simulator: Simulator) -> None:
    guest = await configured(simulator)
    await guest.ws.send("{not json")
    assert (await guest.next())["code"] == 400
    await guest.ws.send("[1, 2]")
    assert (await guest.next())["code"] == 400
    answer = await guest.request("noSuchAction")
    assert answer["class"] == "string" and answer["code"] == 400
    answer = await guest.request("onMessage", message={"type": "Video"})
    assert answer["code"] == 400
    answer = await guest.request("configureAuthenticatedSession", data={"code": "x"})
    assert answer["code"] == 403
    await guest.close()


async def test_token_length_is_bounded(simulator: Simulator) -> None:
    guest = await Guest.connect(simulator, "t" * 2049)
    answer = await guest.configure()
    assert answer["class"] == "string" and answer["code"] == 400
    guest.token = "t" * 2048
    assert (await guest.configure())["class"] == "SessionResponse"
    guest.token = ""
    assert (await guest.configure())["code"] == 400
    await guest.close()


async def test_a_frame_over_64_kib_closes_the_socket(simulator: Simulator) -> None:
    guest = await configured(simulator)
    await guest.ws.send(json.dumps({"action": "echo", "pad": "x" * 70_000}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await guest.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_history_page_size_is_bounded(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await configured(simulator)
    jwt = await guest.jwt()
    for size in ("0", "101", "x"):
        response = await history(http, jwt, pageSize=size)
        assert response.status_code == 400, size
    assert (await history(http, jwt, pageNumber=0)).status_code == 400
    assert (await history(http, jwt, pageSize=100, pageNumber=9)).json()["entities"] == []
    await guest.close()


async def test_expired_session_answers_4006(simulator: Simulator) -> None:
    guest = await configured(simulator)
    (conversation_id,) = simulator.conversations
    assert simulator.faults.expire_sessions(conversation_id, close=False) == 1
    expired = await guest.until(lambda f: f.get("class") == "SessionExpiredEvent")
    assert expired == {"type": "response", "class": "SessionExpiredEvent", "code": 200, "body": {}}
    tracing = await guest.say("late")
    assert await guest.until(lambda f: f.get("tracingId") == tracing) == string_frame(
        4006, "Session expired.", tracing
    )
    # The token starts a new session (the transcript is reset).
    again = await guest.configure()
    assert again["body"]["newSession"] is True
    await guest.close()


async def test_frames_that_cannot_go_out_again_are_400(simulator: Simulator) -> None:
    guest = await configured(simulator)
    deep = "[" * 40 + "]" * 40
    await guest.ws.send('{"action": "echo", "deep": ' + deep + "}")
    assert (await guest.next())["code"] == 400
    await guest.ws.send("[" * 5000 + "]" * 5000)  # past the parser's recursion limit
    assert (await guest.next())["code"] == 400
    surrogate = {
        "action": "onMessage",
        "token": guest.token,
        "message": {"type": "Text", "text": "\ud800"},
    }
    await guest.ws.send(json.dumps(surrogate))  # ensure_ascii: "\\ud800" on the wire
    assert (await guest.next())["code"] == 400
    # The socket goes on.
    await guest.say("fine")
    await guest.echo_of("fine")
    await guest.close()


async def test_sessions_are_bounded(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from webchat_async.simulator import _messaging

    monkeypatch.setattr(_messaging, "MAX_SESSIONS", 2)
    first = await configured(simulator)
    await configured(simulator)
    third = await Guest.connect(simulator)
    refused = await third.configure()
    assert refused["class"] == "string" and refused["code"] == 5000
    # A known token still configures.
    assert (await configured(simulator, first.token)).seen[-1]["body"]["newSession"] is False
    await third.close()
