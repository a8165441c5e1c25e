#!/usr/bin/env bash
# The test kit as a user gets it: a throwaway project in a temporary directory outside the
# repository, the package installed (not editable) into a fresh venv with pytest and
# pytest-asyncio, and a test using the webchat_simulator and guest_session fixtures, run in
# pytest-asyncio's strict and auto modes.
#
# First without aiohttp (removed from the venv): pytest still starts, the fixture and
# `webchat-async demo` each say in one line to install aiohttp. Then with it back (a plain
# reinstall: the simulator needs no extra): the test passes in both modes.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
project="$work/my-bot"
mkdir -p "$project/tests"
cd "$project"

"$python" -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
python -m pip install -q --upgrade pip
pip install -q "$repo" pytest pytest-asyncio

cat > tests/test_bot.py <<'PY'
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
    assert [c.ended for c in webchat_simulator.state.conversations.values()] == [True, True]


@pytest.mark.asyncio  # needed in strict mode, harmless in auto mode
@pytest.mark.webchat_simulator(agent=Agent(name="Kim", reply=reply))
async def test_my_bot_survives_a_drop(all_left, webchat_simulator, guest_session):
    session = await guest_session("Bot")
    webchat_simulator.faults.drop_sockets()
    await session.send_message("Where is my order?")
    answer = await session.wait_for(
        lambda e: isinstance(e, MessageReceived) and e.message.body == "Your order shipped.",
        timeout=10,
    )
    assert answer.message.sender.id != session.member_id
    second = await guest_session("Other")
    await webchat_simulator.wait_routed(second.conversation_id)
PY
cat > tests/test_unmarked.py <<'PY'
async def test_runs_unmarked_in_auto_mode(webchat_simulator, guest_session):
    session = await guest_session("Ann")
    await session.send_message("hello")
    echo = "You said: hello"
    await session.wait_for(lambda e: getattr(e, "message", None) and e.message.body == echo, timeout=10)
PY

cat > plain_test.py <<'PY'
import pytest


@pytest.mark.asyncio
async def test_needs_the_extra(webchat_simulator):
    pass
PY

run() { echo "+ $*" >&2; "$@"; }

# 1. Without aiohttp: pytest loads the plugin; the fixture fails with the install hint.
# aiohttp is a dependency of the SDK now (its HTTP transport), so a user meets this only in
# an environment installed without dependencies; remove it to play that case.
pip uninstall -q -y aiohttp
if run python -m pytest -q -p no:cacheprovider -o asyncio_mode=strict plain_test.py > plain.log 2>&1; then
    cat plain.log; echo "plugin_check: expected a failure without aiohttp" >&2; exit 1
fi
grep -q "ModuleNotFoundError\|ImportError" plain.log && { cat plain.log; echo "plugin_check: import error without aiohttp" >&2; exit 1; }
grep -q "needs aiohttp, a dependency of webchat-async that is not installed here: pip install aiohttp" plain.log || { cat plain.log; exit 1; }
if webchat-async demo > demo.out 2> demo.err; then echo "plugin_check: demo ran without aiohttp" >&2; exit 1; fi
[ "$(wc -l < demo.err)" -eq 1 ] && grep -q "pip install aiohttp" demo.err || { cat demo.err; exit 1; }

# 2. The package's own dependencies back (aiohttp): both modes pass.
pip install -q "$repo"
run python -m pytest -q -p no:cacheprovider -W error -o asyncio_mode=strict \
    -o asyncio_default_fixture_loop_scope=function tests/test_bot.py
run python -m pytest -q -p no:cacheprovider -W error -o asyncio_mode=auto \
    -o asyncio_default_fixture_loop_scope=function tests/
echo "plugin_check: ok (outside the repository in $project; strict and auto modes)"
