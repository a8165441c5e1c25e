"""The types help: option typos, ``wait_for``'s typed form and ``AnyEvent`` are checked by mypy.

The mypy checks run ``mypy --strict`` on small user programs, once for the module; each
program pins one rule (a typo is an error, a typed result has its attributes, a ``match``
missing a kind fails ``assert_never``).
"""

from __future__ import annotations

import asyncio
import typing

import attrs
import pytest
from session_support import GREETING, start
from typecheck import mypy_strict

import webchat_async
from webchat_async import (
    AnyEvent,
    Backoff,
    ConversationEnded,
    Event,
    GuestSession,
    MessageReceived,
    SessionOptions,
)
from webchat_async._events import SocketClosing
from webchat_async.errors import SessionClosedError
from webchat_async.simulator import Simulator

HEADER = """\
from typing import assert_never
from webchat_async import *
from webchat_async import GuestSession, GuestMemberInfo, SessionOptions, Backoff
from webchat_async.messaging import MessagingSession
"""

PROGRAMS = {
    "typo": HEADER
    + """
def f() -> None:
    GuestSession.start(organization_id="o", deployment_id="d",
                       member_info=GuestMemberInfo(display_name="A"), queue_sise=10)
""",
    "every_option": HEADER
    + """
def f() -> None:
    GuestSession.start(
        organization_id="o", deployment_id="d", member_info=GuestMemberInfo(display_name="A"),
        options=SessionOptions(), backoff=Backoff.none(), ping_interval=1.0,
        dead_peer_timeout=1.0, max_reconnect_window=5.0, open_timeout=2.0, queue_size=10,
        dedupe_window=64, typing_interval=1.0, leave_on_exit=False, proxy=None,
    )
""",
    "wrong_option_type": HEADER
    + """
def f() -> None:
    GuestSession.start(organization_id="o", deployment_id="d",
                       member_info=GuestMemberInfo(display_name="A"), queue_size="10")
""",
    "wait_typed": HEADER
    + """
async def f(session: GuestSession) -> str | None:
    answer = await session.wait_for(MessageReceived, lambda e: e.message.body == "x", timeout=5)
    any_message = await session.wait_for(MessageReceived)
    event = await session.wait_for(lambda e: isinstance(e, MessageReceived), timeout=5)
    return answer.message.body or any_message.message.body
""",
    "wait_untyped_has_no_message": HEADER
    + """
async def f(session: GuestSession) -> object:
    event = await session.wait_for(lambda e: True, timeout=5)
    return event.message
""",
    "exhaustive": HEADER
    + """
def describe(event: AnyEvent) -> str:
    match event:
        case MessageReceived(message=m):
            return m.body or ""
        case TypingStarted() | MemberStateChanged() | MediaRequestReceived():
            return "member"
        case StreamDisconnected() | StreamReconnected():
            return "stream"
        case ConversationEnded() | UnknownEvent():
            return "end"
        case SessionExpiring() | SessionClosed():
            return "web messaging"
        case _:
            assert_never(event)

async def loop(session: GuestSession) -> None:
    async for event in session.events():
        describe(event)

async def loop_messaging(session: MessagingSession) -> None:
    async for event in session.events():
        describe(event)
    async for event in session:
        describe(event)
""",
    "not_exhaustive": HEADER
    + """
def describe(event: AnyEvent) -> str:
    match event:
        case MessageReceived(message=m):
            return m.body or ""
        case TypingStarted() | MemberStateChanged() | MediaRequestReceived():
            return "member"
        case StreamDisconnected() | StreamReconnected():
            return "stream"
        case ConversationEnded() | SessionExpiring() | SessionClosed():
            return "end"
        case _:
            assert_never(event)
""",
}


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    programs = dict(PROGRAMS)
    if "assert_never" not in vars(typing):  # 3.10: typing_extensions spells it
        programs = {
            k: v.replace("from typing import", "from typing_extensions import")
            for k, v in programs.items()
        }
    return mypy_strict(tmp_path_factory.mktemp("mypy"), programs)


def test_an_option_typo_is_a_type_error(mypy_errors: dict[str, list[str]]) -> None:
    (error,) = mypy_errors["typo"]
    assert '"queue_sise"' in error and "call-arg" in error


def test_every_option_is_a_typed_keyword(mypy_errors: dict[str, list[str]]) -> None:
    assert mypy_errors["every_option"] == []
    (error,) = mypy_errors["wrong_option_type"]
    assert '"queue_size"' in error and "arg-type" in error


def test_wait_for_with_a_kind_returns_that_kind(mypy_errors: dict[str, list[str]]) -> None:
    assert mypy_errors["wait_typed"] == []  # the typed results have .message
    # The untyped form returns the union: .message is not there for every kind.
    errors = mypy_errors["wait_untyped_has_no_message"]
    assert errors and all('"message"' in e and "union-attr" in e for e in errors)


def test_an_exhaustive_match_passes_assert_never(mypy_errors: dict[str, list[str]]) -> None:
    assert mypy_errors["exhaustive"] == []
    (error,) = mypy_errors["not_exhaustive"]
    assert "assert_never" in error and "UnknownEvent" in error


def test_any_event_is_every_event_a_session_yields() -> None:
    # Through __all__: the package loads its names on first use (PEP 562), so vars() of
    # a fresh import holds none of them.
    exported = (getattr(webchat_async, name) for name in webchat_async.__all__)
    public = {
        obj
        for obj in exported
        if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event
    }
    assert set(typing.get_args(AnyEvent)) == public
    assert SocketClosing not in typing.get_args(AnyEvent)  # consumed by the stream


async def test_the_session_runs_with_every_option_given(simulator: Simulator) -> None:
    values = {
        "backoff": Backoff.none(),
        "ping_interval": 7.0,
        "dead_peer_timeout": 3.0,
        "max_reconnect_window": 30.0,
        "open_timeout": 4.0,
        "queue_size": 32,
        "dedupe_window": 64,
        "typing_interval": 1.5,
        "leave_on_exit": False,
        "proxy": None,
    }
    assert set(values) == {a.name for a in attrs.fields(SessionOptions)}
    async with start(simulator, **values) as session:
        assert session._options == SessionOptions(**values)  # type: ignore[arg-type]
        hello = await session.wait_for(
            MessageReceived, lambda e: e.message.body == GREETING, timeout=10
        )
        assert hello.message.body == GREETING
        saved = session.save()
    conversation = simulator.state.conversations[saved.conversation_id]
    assert not conversation.ended  # leave_on_exit=False was applied
    async with GuestSession.resume(saved, **values) as again:  # type: ignore[arg-type]
        assert again._options == SessionOptions(**values)  # type: ignore[arg-type]


async def test_keywords_apply_over_options_and_none_keeps_them(simulator: Simulator) -> None:
    base = SessionOptions(queue_size=8, typing_interval=2.0, proxy=None, backoff=Backoff.none())
    async with start(simulator, options=base, queue_size=16, proxy=None) as session:
        assert session._options == attrs.evolve(base, queue_size=16)
    async with GuestSession.start(
        organization_id=simulator.organization_id,
        deployment_id=simulator.deployment_id,
        member_info=webchat_async.GuestMemberInfo(display_name="Ann"),
        base_url=simulator.base_url,
        options=base,
    ) as session:
        assert session._options == base  # nothing given: options as they are


async def test_wait_for_a_kind_skips_other_kinds(simulator: Simulator) -> None:
    async with start(simulator) as session:
        await session.send_message("one")
        mine = await session.wait_for(
            MessageReceived, lambda e: e.message.sender.id == session.member_id, timeout=10
        )
        assert mine.message.body == "one"
        await session.leave()
        ended = await session.wait_for(ConversationEnded, timeout=10)
        assert isinstance(ended, ConversationEnded)
        with pytest.raises(SessionClosedError):
            await session.wait_for(MessageReceived, timeout=10)


async def test_wait_for_still_takes_a_plain_predicate_and_refuses_a_non_event_class(
    simulator: Simulator,
) -> None:
    async with start(simulator) as session:
        event = await session.wait_for(
            lambda e: isinstance(e, MessageReceived) and e.message.body == GREETING, timeout=10
        )
        assert isinstance(event, MessageReceived)
        with pytest.raises(TypeError, match="Event class"):
            await session.wait_for(int, timeout=1)  # type: ignore[type-var]
        with pytest.raises(asyncio.TimeoutError):
            await session.wait_for(ConversationEnded, timeout=0.05)
