"""A forgotten ``await`` / ``async with`` / ``aclose()`` says what to write (issue 25, item 3).

``GuestSession.start(...)`` (and ``resume``, ``MessagingSession.start``) return a starter that
is awaited or entered with ``async with``; every other use is an error naming the call and the
two right ways to write it. A session dropped without ``aclose()`` warns with its own name.
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from session_support import start

from webchat_async import GuestSession
from webchat_async.messaging import MessagingSession
from webchat_async.simulator import Simulator

HINT = r"write `async with GuestSession\.start\(\.\.\.\) as session:` or `session = await"


async def test_a_method_on_the_starter_says_the_await_is_missing(simulator: Simulator) -> None:
    starter: Any = start(simulator)
    with pytest.raises(AttributeError, match=r"returns a starter, not the session.*'send_message'"):
        await starter.send_message("hello")
    with pytest.raises(AttributeError, match=HINT):
        starter.conversation_id  # noqa: B018 (the attribute access is the test)


async def test_a_plain_with_says_async_with(simulator: Simulator) -> None:
    starter: Any = start(simulator)
    with pytest.raises(TypeError, match=r"needs `async with`, not `with`: " + HINT):
        with starter:
            pass


async def test_async_for_on_the_starter_says_the_await_is_missing(simulator: Simulator) -> None:
    starter: Any = start(simulator)
    with pytest.raises(TypeError, match=r"the await is missing.*`async for event in session`"):
        async for _ in starter:
            pass


async def test_a_starter_never_used_warns_like_a_coroutine_never_awaited(
    simulator: Simulator,
) -> None:
    starter = start(simulator)
    with pytest.warns(RuntimeWarning, match=r"GuestSession\.start\(\.\.\.\) was never awaited"):
        del starter
        gc.collect()
    # Nothing was opened: no request reached the simulator.
    assert simulator.state.requests == []


async def test_a_starter_closed_unused_does_not_warn(simulator: Simulator) -> None:
    # A caller that decides not to open it (a registry at its maximum) discards it as it
    # would a coroutine: close(), and no warning.
    starter = start(simulator)
    starter.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del starter
        gc.collect()
    assert simulator.state.requests == []


async def test_resume_and_messaging_name_their_own_call(simulator: Simulator) -> None:
    async with start(simulator) as session:
        saved = session.save()
    resumed: Any = GuestSession.resume(saved, proxy=None)
    with pytest.raises(AttributeError, match=r"`async with GuestSession\.resume\(\.\.\.\)"):
        resumed.events()
    messaging: Any = MessagingSession.start(
        deployment_id=simulator.deployment_id,
        base_url=simulator.base_url,
        origin="https://shop.example",
        proxy=None,
    )
    with pytest.raises(TypeError, match=r"`async with MessagingSession\.start\(\.\.\.\)"):
        with messaging:
            pass


async def test_the_starter_still_works_both_ways(simulator: Simulator) -> None:
    session = await start(simulator)
    await session.aclose()
    async with start(simulator) as entered:
        assert entered.conversation_id


async def test_a_session_never_closed_warns_naming_it(simulator: Simulator) -> None:
    session = await start(simulator)
    try:
        # What the garbage collector would run: a warning, no work scheduled.
        with pytest.warns(ResourceWarning) as caught:
            session.__del__()
        (warning,) = caught
        text = str(warning.message)
        assert f"GuestSession {session.conversation_id} was never closed" in text
        assert "await session.aclose()" in text
    finally:
        await session.aclose()
    with warnings_as_errors():
        session.__del__()  # closed: silent


async def test_a_messaging_session_never_closed_warns_without_its_token(
    simulator: Simulator,
) -> None:
    session = await MessagingSession.start(
        deployment_id=simulator.deployment_id,
        base_url=simulator.base_url,
        origin="https://shop.example",
        proxy=None,
    )
    try:
        with pytest.warns(ResourceWarning, match="MessagingSession on ws://127.0.0.1") as caught:
            session.__del__()
        assert session.token not in str(caught[0].message)
    finally:
        await session.aclose()
    with warnings_as_errors():
        session.__del__()


@contextlib.contextmanager
def warnings_as_errors() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
