"""The pytest plugin, as a user's project sees it: a fresh pytest run in a temporary
directory (no configuration of this repository), in pytest-asyncio's strict and auto modes.

``scripts/ci/plugin_check.sh`` proves the same from a clean install outside the repository.
"""

from __future__ import annotations

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("pytest_asyncio")

pytest_plugins = ["pytester"]

USER_TEST = """
import pytest
import pytest_asyncio

from webchat_async import MessageReceived
from webchat_async.simulator import Agent


async def reply(conversation, message):
    return "Your order shipped." if "order" in (message.body or "") else None


@pytest_asyncio.fixture
async def all_left(webchat_simulator):
    # Set up before guest_session, so torn down after it: every session has left by then.
    yield
    conversations = webchat_simulator.state.conversations.values()
    assert [c.ended for c in conversations] == [True, True]


MARK
@pytest.mark.webchat_simulator(agent=Agent(name="Kim", reply=reply), heartbeat_interval=None)
async def test_my_bot(all_left, webchat_simulator, guest_session):
    assert webchat_simulator.base_url.startswith("http://127.0.0.1:")
    assert webchat_simulator.agent.name == "Kim"
    session = await guest_session("Bot")
    webchat_simulator.faults.drop_sockets()  # the fault controls
    await session.send_message("Where is my order?")
    answer = await session.wait_for(
        lambda e: isinstance(e, MessageReceived) and e.message.body == "Your order shipped.",
        timeout=10,
    )
    assert answer.message.sender.id != session.member_id
    other = await guest_session("Other")
    await webchat_simulator.wait_routed(other.conversation_id)
    await webchat_simulator.agent_say(other.conversation_id, "Hi Other")
    assert len(guest_session.sessions) == 2
"""


@pytest.mark.parametrize(
    ("mode", "mark"),
    [("strict", "@pytest.mark.asyncio"), ("auto", "")],
)
def test_the_fixtures_work_in_strict_and_auto_mode(
    pytester: pytest.Pytester, mode: str, mark: str
) -> None:
    pytester.makepyfile(test_user=USER_TEST.replace("MARK", mark))
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)


def test_without_aiohttp_the_fixture_says_what_to_install(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\nsys.modules['aiohttp'] = None\n")
    pytester.makepyfile(
        test_user="import pytest\n\n"
        "@pytest.mark.asyncio\n"
        "async def test_it(webchat_simulator):\n    pass\n"
    )
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert (
        "the webchat_simulator fixture needs aiohttp, a dependency of webchat-async that is not "
        "installed here: pip install aiohttp" in output
    )
    assert "Traceback" not in output and "During handling" not in output


MESSAGING_TEST = """
import pytest

from webchat_async import MessageReceived
from webchat_async.messaging import MessagingSession

SEEN = []


@pytest.fixture
def closed_after(messaging_session):
    # Set up after messaging_session, so torn down before it: the sessions are still open.
    yield
    SEEN.extend(s.ended for s in messaging_session.sessions)


@pytest.mark.asyncio
async def test_my_messaging_bot(webchat_simulator, messaging_session, closed_after):
    session = await messaging_session()
    assert isinstance(session, MessagingSession)
    await session.send_message("Hello")
    async for event in session.events():
        if isinstance(event, MessageReceived) and event.text == "You said: Hello":
            break
    again = await messaging_session(token=session.token)
    assert [m.text async for m in again.history(max_results=1)] == ["You said: Hello"]
    assert len(messaging_session.sessions) == 2


def test_the_sessions_were_open_during_the_test_and_closed_after():
    assert SEEN == [False, False]
"""


def test_the_messaging_session_fixture(pytester: pytest.Pytester) -> None:
    import os
    from pathlib import Path

    # The SDK of this checkout (a worktree's too), not only the installed one.
    root = Path(__file__).resolve().parents[2]
    pytester._monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    )
    pytester.makepyfile(test_user=MESSAGING_TEST)
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=2)
