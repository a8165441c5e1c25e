"""GuestSession on the real simulator, over real sockets: the everyday flow."""

from __future__ import annotations

import asyncio

import pytest
from session_support import GREETING, collect_until, is_text, of_type, start, texts

from webchat_async import Backoff
from webchat_async._events import (
    ConversationEnded,
    MediaRequestReceived,
    MemberJoined,
    MemberLeft,
    MemberStateChanged,
    MessageReceived,
    TypingStarted,
    UnknownEvent,
)
from webchat_async.api import WebChatApi
from webchat_async.errors import SessionClosedError
from webchat_async.models import (
    BodyType,
    CreateWebChatConversationRequest,
    GuestMemberInfo,
    MediaRequestState,
    MemberRole,
    MemberState,
)
from webchat_async.session import GuestSession, SavedSession
from webchat_async.simulator import Simulator


async def test_start_attaches_then_routing_starts_and_the_greeting_arrives(
    simulator: Simulator,
) -> None:
    async with start(simulator) as session:
        conversation = simulator.state.conversations[session.conversation_id]
        assert conversation.socket_count == 1  # attached before start() returned
        await simulator.wait_routed(session.conversation_id)
        events = await collect_until(session, is_text(GREETING))
        agent = conversation.agent_member_id
        assert texts(events, sender=agent) == [GREETING]
    assert conversation.ended  # left on exit


async def test_a_conversation_is_routed_only_once_a_socket_attaches(simulator: Simulator) -> None:
    async with WebChatApi(base_url=simulator.base_url) as api:
        created = await api.post_webchat_guest_conversations(
            CreateWebChatConversationRequest(
                organization_id=simulator.organization_id,
                deployment_id=simulator.deployment_id,
                member_info=GuestMemberInfo(display_name="Ann"),
            )
        )
        assert created.id and created.jwt and created.event_stream_uri and created.member
        conversation = simulator.state.conversations[created.id]
        assert not conversation.attached and not conversation.routed
        saved = SavedSession(
            conversation_id=created.id,
            member_id=created.member.id or "",
            jwt=created.jwt,
            event_stream_uri=created.event_stream_uri,
            base_url=simulator.base_url,
        )
        async with GuestSession.resume(saved, api=api, backoff=Backoff.none(), proxy=None) as s:
            await simulator.wait_routed(created.id)
            assert conversation.routed
            # Messages from before the attach (none here but the agent's) are yielded too.
            await collect_until(s, is_text(GREETING))
            await s.leave()
        assert not api.is_closed  # a shared client is not closed by the session


async def test_every_event_type_arrives_typed(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await simulator.wait_routed(cid)
        events = await collect_until(session, is_text(GREETING))
        # Agent join, as member changes enriched with the member's role and name (on the
        # first attach it may come on either side of the greeting).
        if not of_type(events, MemberJoined):
            events += await collect_until(session, lambda e: isinstance(e, MemberJoined))
        joined = of_type(events, MemberJoined)[0]
        assert joined.member.role == MemberRole.AGENT
        assert joined.member.display_name == "Sam"
        assert joined.state is MemberState.CONNECTED
        alerting = [e for e in of_type(events, MemberStateChanged) if type(e) is MemberStateChanged]
        assert alerting and alerting[0].state is MemberState.ALERTING
        assert alerting[0].member.role == MemberRole.AGENT

        sent = await session.send_message("Hi there")
        echo = await collect_until(session, is_text("Hi there"))
        mine = of_type(echo, MessageReceived)[-1].message
        assert mine.id == sent.id
        assert mine.sender is not None and mine.sender.id == session.member_id
        # The echo agent answers, typing first.
        answer = await collect_until(session, is_text("You said: Hi there"))
        typing = of_type(answer, TypingStarted)
        assert typing and typing[0].member_id == conversation_agent(simulator, cid)

        await simulator.agent_typing(cid)
        got = await collect_until(session, lambda e: isinstance(e, TypingStarted))
        assert of_type(got, TypingStarted)[-1].conversation_id == cid

        await simulator.faults.send_unknown_topic(cid)
        await simulator.faults.send_malformed(cid)
        got = await collect_until(session, lambda e: isinstance(e, UnknownEvent))
        got += await collect_until(session, lambda e: isinstance(e, UnknownEvent))
        assert [e.reason for e in of_type(got, UnknownEvent)] == [
            "unknown topic or type",
            "invalid JSON",
        ]

        request = await simulator.agent_request_media(cid, ["COBROWSE"])
        got = await collect_until(session, lambda e: isinstance(e, MediaRequestReceived))
        announced = of_type(got, MessageReceived)[-1].message
        assert announced.body_type == BodyType.MEDIA_REQUEST
        received = of_type(got, MediaRequestReceived)[0].request
        assert received.id == request.id and received.state is MediaRequestState.PENDING
        assert received.types == ["COBROWSE"]
        accepted = await session.accept_media_request(request.id or "")
        assert accepted.state is MediaRequestState.ACCEPTED
        assert [r.state for r in await session.media_requests()] == [MediaRequestState.ACCEPTED]

        members = await session.members()
        roles = {m.id: m.role for m in members}
        assert roles[session.member_id] == MemberRole.CUSTOMER
        assert roles[conversation_agent(simulator, cid)] == MemberRole.AGENT

        await simulator.agent_end(cid)
        rest = [e async for e in session]  # ends by itself after ConversationEnded
        left = of_type(rest, MemberLeft)
        assert left and left[0].member.role == MemberRole.AGENT
        assert isinstance(rest[-1], ConversationEnded)
        assert session.ended
        # A second iteration ends at once; nothing is lost or repeated.
        assert [e async for e in session.events()] == []
    deletes = simulator.state.count_requests(
        "DELETE", f"/api/v2/webchat/guest/conversations/{cid}/members/{session.member_id}"
    )
    assert deletes == 0  # the chat had ended: no leave call


def conversation_agent(sim: Simulator, cid: str) -> str:
    agent = sim.state.conversations[cid].agent_member_id
    assert agent is not None
    return agent


async def test_history_lists_past_messages_in_order(simulator: Simulator) -> None:
    async with start(simulator) as session:
        cid = session.conversation_id
        await simulator.wait_routed(cid)
        for text in ("one", "two", "three"):
            await simulator.agent_say(cid, text)
        history = [m async for m in session.history()]
        assert [m.body for m in history if m.body_type == BodyType.STANDARD] == [
            GREETING,
            "one",
            "two",
            "three",
        ]


async def test_leave_ends_the_event_stream(simulator: Simulator) -> None:
    session = await start(simulator)
    try:
        await session.leave()
        await session.leave()  # idempotent
        events = [e async for e in session]
        assert isinstance(events[-1], ConversationEnded)
        assert simulator.state.conversations[session.conversation_id].ended
    finally:
        await session.aclose()
    with pytest.raises(SessionClosedError):
        await session.send_message("too late")
    await session.aclose()  # idempotent


async def test_typing_context_repeats_the_indicator(simulator: Simulator) -> None:
    async with start(simulator) as session:
        async with session.typing(interval=0.01):
            mine = await collect_until(
                session,
                lambda e: isinstance(e, TypingStarted) and e.member_id == session.member_id,
            )
            for _ in range(2):
                mine += await collect_until(
                    session,
                    lambda e: isinstance(e, TypingStarted) and e.member_id == session.member_id,
                )
        own = [e for e in of_type(mine, TypingStarted) if e.member_id == session.member_id]
        assert len(own) == 3


async def test_wait_for_returns_the_first_match_or_times_out(simulator: Simulator) -> None:
    async with start(simulator) as session:
        await simulator.wait_routed(session.conversation_id)
        event = await session.wait_for(is_text(GREETING), timeout=10)
        assert isinstance(event, MessageReceived)
        with pytest.raises(asyncio.TimeoutError):
            await session.wait_for(is_text("never said"), timeout=0.05)


async def test_repr_and_saved_session_hide_the_secrets(simulator: Simulator) -> None:
    async with start(simulator) as session:
        saved = session.save()
        assert saved.jwt and saved.event_stream_uri
        for text in (repr(session), repr(saved), str(saved)):
            assert saved.jwt not in text
            assert "/chat/jwt/" not in text
        assert session.conversation_id in repr(session)
        restored = SavedSession.from_json(saved.to_json())
        assert restored == saved
        await session.leave()


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"conversationId": "c"}',
        '{"conversationId":"c","memberId":"m","jwt":"j","eventStreamUri":"u","baseUrl":"b","lastMessageId":5}',
    ],
)
def test_saved_session_from_json_rejects_bad_input(text: str) -> None:
    with pytest.raises(ValueError):
        SavedSession.from_json(text)
