"""Calls that act in the conversation after ``leave()`` or the end raise locally, no request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from session_support import start

from webchat_async import ConversationEnded, GuestSession, SessionClosedError
from webchat_async.simulator import Simulator

CALLS: dict[str, Callable[[GuestSession], Awaitable[object]]] = {
    "send a message": lambda s: s.send_message("hello?"),
    "send a typing indicator": lambda s: s.send_typing(),
    "answer a media request": lambda s: s.accept_media_request("m-1"),
}


def guest_requests(sim: Simulator, conversation_id: str) -> int:
    """Requests under the conversation that would act in it (POST / PATCH)."""
    prefix = f"/api/v2/webchat/guest/conversations/{conversation_id}/"
    return sum(
        1 for r in sim.state.requests if r.path.startswith(prefix) and r.method in ("POST", "PATCH")
    )


@pytest.mark.parametrize("action", list(CALLS))
async def test_after_leave_calls_raise_without_a_request(simulator: Simulator, action: str) -> None:
    async with start(simulator) as session:
        await session.leave()
        before = guest_requests(simulator, session.conversation_id)
        with pytest.raises(SessionClosedError, match=f"cannot {action}: the guest has left"):
            await CALLS[action](session)
        assert guest_requests(simulator, session.conversation_id) == before
        await session.leave()  # still idempotent


@pytest.mark.parametrize("action", list(CALLS))
async def test_after_the_agent_ended_calls_raise_without_a_request(
    simulator: Simulator, action: str
) -> None:
    async with start(simulator) as session:
        await simulator.wait_routed(session.conversation_id)
        await simulator.agent_end(session.conversation_id)
        await session.wait_for(ConversationEnded, timeout=10)
        assert session.ended
        before = guest_requests(simulator, session.conversation_id)
        with pytest.raises(
            SessionClosedError, match=f"cannot {action}: the conversation has ended"
        ):
            await CALLS[action](session)
        assert guest_requests(simulator, session.conversation_id) == before


async def test_leave_after_the_end_sends_nothing(simulator: Simulator) -> None:
    async with start(simulator) as session:
        await simulator.wait_routed(session.conversation_id)
        await simulator.agent_end(session.conversation_id)
        await session.wait_for(ConversationEnded, timeout=10)
        path = (
            f"/api/v2/webchat/guest/conversations/{session.conversation_id}"
            f"/members/{session.member_id}"
        )
        await session.leave()
        assert simulator.state.count_requests("DELETE", path) == 0
        with pytest.raises(SessionClosedError, match="has left"):
            await session.send_message("hello?")


async def test_typing_block_refuses_after_leave(simulator: Simulator) -> None:
    async with start(simulator) as session:
        await session.leave()
        with pytest.raises(SessionClosedError):
            async with session.typing():
                pass


async def test_reads_still_reach_the_service_after_leave(simulator: Simulator) -> None:
    # Whether the service answers reads after the end is not documented: the session
    # asks rather than guessing (the simulator answers 400 conversation.state or data).
    async with start(simulator) as session:
        await session.leave()
        # Drained to the end first: the reader's own member reads are then done, and the
        # count below is of the call under test alone.
        async for _ in session:
            pass
        path = f"/api/v2/webchat/guest/conversations/{session.conversation_id}/members"
        before = simulator.state.count_requests("GET", path)
        try:
            await session.members()
        except Exception as exc:  # the simulator's choice; only that it was asked matters
            assert not isinstance(exc, SessionClosedError)
        assert simulator.state.count_requests("GET", path) == before + 1


@pytest.mark.parametrize(
    ("text", "detail"),
    [("", "must not be empty"), ("x" * 4001, "is 4001 characters; the limit is 4000")],
)
async def test_a_bad_text_names_the_argument(simulator: Simulator, text: str, detail: str) -> None:
    async with start(simulator) as session:
        with pytest.raises(ValueError) as info:
            await session.send_message(text)
    assert str(info.value).startswith("text: the message text ")
    assert detail in str(info.value)
    assert "body.body" not in str(info.value)
