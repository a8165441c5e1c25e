"""MessagingSession end to end on the simulator: send and the agent's reply, history, the
end (read-only, expiry), resume by token, refusals, URLs, capabilities, secrets."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from wm_session_support import (
    ORIGIN,
    agent_texts,
    client_tasks,
    collect_until,
    is_text,
    of_type,
    start,
)

from webchat_async import (
    ConversationEnded,
    GuestSession,
    MessageReceived,
    PermissionDeniedError,
    SessionClosedError,
    StreamReconnected,
    WebChatApi,
)
from webchat_async.errors import (
    CustomAttributesTooLargeError,
    MessageTooLongError,
    SessionExpiredError,
    SessionReadOnlyError,
)
from webchat_async.messaging import MessagingSession
from webchat_async.messaging._socket import Hosts
from webchat_async.simulator import Simulator

GREETING = "Hello, I'm Sam. How can I help you today?"


async def test_send_and_the_agent_answers(simulator: Simulator) -> None:
    async with start(simulator) as session:
        assert str(uuid.UUID(session.token)) == session.token  # a UUID when none is given
        echo = await session.send_message("Hello")
        assert echo.text == "Hello" and echo.inbound
        events = await collect_until(session, is_text("You said: Hello"))
        messages = of_type(events, MessageReceived)
        assert [(m.text, m.from_guest) for m in messages] == [
            ("Hello", True),
            (GREETING, False),
            ("You said: Hello", False),
        ]
        assert messages[0].message_id == echo.id
        assert len({m.message_id for m in messages}) == 3
    assert not client_tasks()


async def test_awaitable_start_and_aclose(simulator: Simulator) -> None:
    session = await start(simulator)
    try:
        await session.send_message("one")
        await collect_until(session, is_text("You said: one"))
    finally:
        await session.aclose()
    await session.aclose()  # idempotent
    assert not client_tasks()
    with pytest.raises(SessionClosedError):
        await session.send_message("after")


async def test_history_reads_the_past_messages(simulator: Simulator) -> None:
    async with start(simulator) as session:
        await session.send_message("Hello")
        await collect_until(session, is_text("You said: Hello"))
        past = [m async for m in session.history()]
        assert [(m.text, m.from_guest) for m in past] == [
            ("You said: Hello", False),
            (GREETING, False),
            ("Hello", True),
        ]
        assert all(m.message_id for m in past)
        assert [m.text async for m in session.history(max_results=1)] == ["You said: Hello"]


async def test_sessions_share_a_web_chat_api_pool_and_leave_it_open(
    simulator: Simulator,
) -> None:
    async with WebChatApi(base_url=simulator.base_url) as api:
        async with start(simulator, api=api) as one, start(simulator, api=api) as two:
            await one.send_message("from one")
            await two.send_message("from two")
            assert [m.text async for m in one.history()][-1] == "from one"
            assert [m.text async for m in two.history()][-1] == "from two"
        assert not api.is_closed  # the sessions closed, the shared pool did not
        async with start(simulator, api=api) as three:
            await three.send_message("after")
            assert "after" in [m.text async for m in three.history()]
    assert not client_tasks()


async def test_history_pages(simulator: Simulator) -> None:
    simulator.faults.messaging_rate_limit(None)
    async with start(simulator) as session:
        await session.send_message("start")
        conversation_id = simulator.messaging_conversation_id(session.token)
        await simulator.wait_routed(conversation_id)
        for n in range(30):
            await simulator.agent_say(conversation_id, f"n{n}")
        await collect_until(session, is_text("n29"))
        texts = [m.text async for m in session.history()]
        # 25 to a page by default: two pages, newest first, each message once.
        numbered = [t for t in texts if t is not None and t.startswith("n")]
        assert numbered == [f"n{n}" for n in reversed(range(30))]
        assert sorted(t for t in texts if t not in numbered) == sorted(
            ["start", GREETING, "You said: start"]
        )


async def test_read_only_end_then_a_send_raises_at_once(simulator: Simulator) -> None:
    async with start(simulator) as session:
        await session.send_message("Hello")
        await collect_until(session, is_text("You said: Hello"))
        conversation_id = simulator.messaging_conversation_id(session.token)
        await simulator.agent_say(conversation_id, "goodbye")
        await simulator.agent_end(conversation_id)
        events = [event async for event in session.events()]  # stops after the end
        assert agent_texts(events) == ["goodbye"]
        assert isinstance(events[-1], ConversationEnded)
        assert session.ended
        with pytest.raises(SessionReadOnlyError):
            await asyncio.wait_for(session.send_message("too late"), 0.5)
        # The history stays readable.
        assert [m.text async for m in session.history(max_results=1)] == [None]


async def test_expiry_ends_the_session(simulator: Simulator) -> None:
    async with start(simulator) as session:
        await session.send_message("Hello")
        await collect_until(session, is_text("You said: Hello"))
        conversation_id = simulator.messaging_conversation_id(session.token)
        assert simulator.faults.expire_sessions(conversation_id) == 1
        events = [event async for event in session.events()]
        assert isinstance(events[-1], ConversationEnded)
        with pytest.raises(SessionExpiredError) as raised:
            await session.send_message("still there?")
        assert raised.value.code is None or raised.value.code == 4006
        assert isinstance(raised.value, SessionClosedError)
    assert not client_tasks()


async def test_resume_with_the_same_token(simulator: Simulator) -> None:
    async with start(simulator) as first:
        await first.send_message("remember me")
        await collect_until(first, is_text("You said: remember me"))
        token = first.save()
        assert token == first.token
    async with start(simulator, token=token) as second:
        assert second.token == token
        past = [m.text async for m in second.history()]
        assert past == ["You said: remember me", GREETING, "remember me"]
        await second.send_message("back again")
        events = await collect_until(second, is_text("You said: back again"))
        # The old transcript is not delivered again as new messages.
        assert "remember me" not in [e.text for e in of_type(events, MessageReceived)]


async def test_a_resumed_session_does_not_replay_its_transcript_after_a_drop(
    simulator: Simulator,
) -> None:
    async with start(simulator) as first:
        await first.send_message("remember me")
        await collect_until(first, is_text("You said: remember me"))
        token = first.token
    async with start(simulator, token=token) as second:
        # The resumed session reads the history once attached (what it holds is the old
        # transcript); the echo of a send comes after that answer.
        await simulator.wait_requests("GET", "/api/v2/webmessaging/messages")
        await second.send_message("back again")
        before = await collect_until(second, is_text("You said: back again"))
        assert simulator.faults.drop_sockets() == 1
        after = await collect_until(second, lambda e: isinstance(e, StreamReconnected))
        await second.send_message("and again")
        after += await collect_until(second, is_text("You said: and again"))
    texts = [e.text for e in of_type(before + after, MessageReceived)]
    assert texts == ["back again", "You said: back again", "and again", "You said: and again"]


async def test_attributes_over_the_limit_are_refused_before_sending(simulator: Simulator) -> None:
    async with start(simulator) as session:
        with pytest.raises(CustomAttributesTooLargeError) as raised:
            await session.send_message("hi", custom_attributes={"k": "x" * 3000})
        assert raised.value.code == 4013
        await session.send_message("hi", custom_attributes={"plan": "gold"})


async def test_a_text_the_service_refuses_raises_with_its_code(simulator: Simulator) -> None:
    async with start(simulator) as session:
        with pytest.raises(MessageTooLongError) as raised:
            await session.send_message("x" * 5000)
        assert raised.value.code == 4011
        await session.send_message("shorter")  # the session goes on


async def test_a_refused_handshake_is_final(simulator: Simulator) -> None:
    simulator.faults.refuse_handshakes(1, 403)
    with pytest.raises(PermissionDeniedError):
        await asyncio.wait_for(start(simulator), 5)
    assert not client_tasks()
    with pytest.raises(PermissionDeniedError):
        await asyncio.wait_for(
            MessagingSession.start(
                deployment_id="no-such-deployment",
                base_url=simulator.base_url,
                origin=ORIGIN,
                proxy=None,
            ),
            5,
        )


def test_urls_from_a_base_url_and_a_region() -> None:
    local = Hosts.build(
        "dep 1", region=None, base_url="http://127.0.0.1:8080/", application="my app",
        allow_insecure_http=False,
    )  # fmt: skip
    assert local.socket_url == "ws://127.0.0.1:8080/v1?deploymentId=dep+1&application=my+app"
    assert local.history_url == "http://127.0.0.1:8080/api/v2/webmessaging/messages"
    assert local.config_url == (
        "http://127.0.0.1:8080/webdeployments/v1/deployments/dep%201/config.json"
    )
    for region in ("eu-west-1", "mypurecloud.ie", "webmessaging.mypurecloud.ie"):
        hosts = Hosts.build(
            "d", region=region, base_url=None, application="a", allow_insecure_http=False
        )
        assert (
            hosts.socket_url == "wss://webmessaging.mypurecloud.ie/v1?deploymentId=d&application=a"
        )
        assert hosts.history_url == "https://api.mypurecloud.ie/api/v2/webmessaging/messages"
        assert hosts.config_url == (
            "https://api-cdn.mypurecloud.ie/webdeployments/v1/deployments/d/config.json"
        )
    secure = Hosts.build(
        "d", region=None, base_url="https://example.test", application="a",
        allow_insecure_http=False,
    )  # fmt: skip
    assert secure.socket_url.startswith("wss://example.test/v1?")
    with pytest.raises(ValueError):
        Hosts.build(
            "d", region=None, base_url="http://example.test", application="a",
            allow_insecure_http=False,
        )  # fmt: skip


def test_bad_arguments_are_refused_before_any_io() -> None:
    with pytest.raises(ValueError):
        MessagingSession.start(deployment_id="d", origin=ORIGIN, token="")
    with pytest.raises(ValueError):
        MessagingSession.start(deployment_id="d", origin=ORIGIN, token="x" * 2049)
    with pytest.raises(ValueError) as raised:
        MessagingSession.start(deployment_id="d", origin=ORIGIN, token="se\ncret")
    assert "se" not in str(raised.value).replace("session", "")
    with pytest.raises(ValueError):
        MessagingSession.start(deployment_id="d\r\n", origin=ORIGIN)
    with pytest.raises(ValueError):
        MessagingSession.start(deployment_id="d", origin=ORIGIN, region="nowhere-1")


def test_capabilities_on_both_sessions() -> None:
    # A class-level check is enough: the value is the protocol's, not the session's.
    messaging = MessagingSession.capabilities.fget  # type: ignore[attr-defined]
    guest = GuestSession.capabilities.fget  # type: ignore[attr-defined]
    m, g = messaging(None), guest(None)
    assert (m.attachments, m.rich_content, m.roster, m.media_requests) == (
        True, True, False, False,
    )  # fmt: skip
    assert (g.attachments, g.rich_content, g.roster, g.media_requests) == (
        False, False, True, True,
    )  # fmt: skip


async def test_the_token_and_jwt_stay_secret(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    token = "secret-token-" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG)
    async with start(simulator, token=token) as session:
        await session.send_message("Hello")
        await collect_until(session, is_text("You said: Hello"))
        simulator.faults.drop_sockets(simulator.messaging_conversation_id(token))
        await collect_until(session, lambda e: type(e).__name__ == "StreamReconnected")
        jwt = session._core.jwt
        assert jwt
        assert [m async for m in session.history()]
        shown = repr(session) + str(session) + repr(session._core)
        assert token not in shown and jwt not in shown
        await simulator.agent_end(simulator.messaging_conversation_id(token))
        async for _ in session.events():
            pass
        with pytest.raises(SessionReadOnlyError) as raised:
            await session.send_message("after")
        assert token not in str(raised.value) and token not in repr(raised.value)
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + str(record.exc_text)
        assert token not in text, record.name
        assert jwt not in text, record.name


async def test_the_origin_goes_with_the_handshake_and_the_history(simulator: Simulator) -> None:
    from webchat_async.models import WebChatDeployment

    deployment = simulator.state.add_deployment(
        WebChatDeployment(name="restricted", allowed_domains=["shop.example"])
    )
    assert deployment.id is not None
    async with MessagingSession.start(
        deployment_id=deployment.id, base_url=simulator.base_url, origin=ORIGIN, proxy=None
    ) as session:
        await session.send_message("from the shop")
        # The history needs an allowed Origin too.
        assert [m.text async for m in session.history()][-1] == "from the shop"
    with pytest.raises(PermissionDeniedError):
        await MessagingSession.start(
            deployment_id=deployment.id,
            base_url=simulator.base_url,
            origin="https://evil.example",
            proxy=None,
        )
    assert not client_tasks()
