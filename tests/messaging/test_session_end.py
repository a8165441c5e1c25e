"""MessagingSession's other ends and oddities on the simulator: the expiry warning before
the expiry, the same token connected elsewhere (ConnectionClosedEvent), frames it does not
understand."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from wm_session_support import client_tasks, collect_until, fast_options, is_text, start

from webchat_async import ConversationEnded, MessageReceived, SessionClosedError, UnknownEvent
from webchat_async._events import SessionClosed, SessionExpiring
from webchat_async.errors import SessionExpiredError
from webchat_async.simulator import Agent, Simulator


@pytest.fixture
async def quiet() -> AsyncIterator[Simulator]:
    async with Simulator(agent=Agent(greeting=None), heartbeat_interval=None) as sim:
        yield sim


async def test_a_warning_comes_before_the_expiry(quiet: Simulator) -> None:
    quiet.faults.messaging_session_ttl(1.0)
    async with start(quiet, options=fast_options(expiry_warning=0.6)) as session:
        await session.send_message("hi")
        events = await collect_until(session, lambda e: isinstance(e, ConversationEnded), 10)
        kinds = [type(e) for e in events if not isinstance(e, MessageReceived)]
        assert kinds == [SessionExpiring, ConversationEnded]
        (warning,) = [e for e in events if isinstance(e, SessionExpiring)]
        assert 0 < warning.remaining <= 0.6
        with pytest.raises(SessionExpiredError):
            await session.send_message("too late")
    assert not client_tasks()


async def test_the_same_token_elsewhere_closes_this_socket(quiet: Simulator) -> None:
    quiet.faults.messaging_socket_limit(1)
    async with start(quiet) as first:
        await first.send_message("hi")
        async with start(quiet, token=first.token) as second:
            events = await collect_until(first, lambda e: isinstance(e, ConversationEnded))
            # What was held (the echo of "hi") comes before the news that nothing more will.
            assert [type(e) for e in events] == [MessageReceived, SessionClosed, ConversationEnded]
            with pytest.raises(SessionClosedError):
                await first.send_message("from the old tab")
            # The newer one goes on, and it is not reconnect-fighting the old one.
            await second.send_message("from the new tab")
            texts = [m.text async for m in second.history()]
            assert texts == ["from the new tab", "hi"]


async def test_frames_it_does_not_understand_become_unknown_events(quiet: Simulator) -> None:
    async with start(quiet) as session:
        await session.send_message("hi")
        conversation_id = quiet.messaging_conversation_id(session.token)
        await quiet.wait_routed(conversation_id)
        await collect_until(session, is_text("hi"))
        await quiet.faults.send_malformed(conversation_id)
        await quiet.faults.send_raw(
            '{"type":"message","class":"BrandNewEvent","code":200,"body":{}}', conversation_id
        )
        await quiet.agent_say(conversation_id, "still fine")
        events = await collect_until(session, is_text("still fine"))
        unknown = [e for e in events if isinstance(e, UnknownEvent)]
        assert [u.reason for u in unknown] == ["invalid JSON", "unknown class"]
