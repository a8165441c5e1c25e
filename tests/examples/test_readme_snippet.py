"""Every Python block of the README type-checks under ``mypy --strict`` and runs.

Each block is found by a marker (the name it defines) and run by one test here, against the
simulator. Blocks written for a real organization run with three literal substitutions:
``YOUR-ORG-ID`` / ``YOUR-DEPLOYMENT-ID`` become the simulator's ids and
``region="eu-west-1"`` becomes ``base_url="<the simulator>"``. A new block without a test
fails :func:`test_every_python_block_is_run_here`. The simulator example runs as a test file of
a user's project, through the pytest plugin, in pytest-asyncio's strict and auto modes.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from loopback import GREETING
from typecheck import mypy_strict

pytest.importorskip("aiohttp")

from webchat_async import GuestMemberInfo, GuestSession
from webchat_async.models import WebChatMessage
from webchat_async.simulator import Agent, ConversationView, Simulator

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
MARKERS = {
    "quickstart": "async def main() -> None:",
    "save_resume": "def pause(session: GuestSession)",
    "admin": "async def set_up(",
    "test_kit": "async def test_my_bot_survives_a_drop",
    "messaging": "async def first_answer() -> str | None:",
}


def block(name: str) -> str:
    (snippet,) = [b for b in BLOCKS if MARKERS[name] in b]
    return snippet


def for_simulator(snippet: str, sim: Simulator) -> str:
    replaced = (
        snippet.replace('"YOUR-ORG-ID"', repr(sim.organization_id))
        .replace('"YOUR-DEPLOYMENT-ID"', repr(sim.deployment_id))
        .replace('region="eu-west-1"', f"base_url={sim.base_url!r}")
    )
    assert sim.base_url in replaced, "the block names no region to replace"
    return replaced


def run(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(snippet, "README.md", "exec"), namespace)
    return namespace


def test_every_python_block_is_run_here() -> None:
    assert len(BLOCKS) == len(MARKERS)
    for snippet in BLOCKS:
        assert sum(marker in snippet for marker in MARKERS.values()) == 1, snippet[:200]


def test_every_python_block_passes_mypy_strict(tmp_path: Path) -> None:
    errors = mypy_strict(tmp_path, {name: block(name) for name in MARKERS})
    assert errors == {name: [] for name in MARKERS}


class _Listener(Agent):
    """An agent that stays silent and reports each guest message."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def reply(self, conversation: ConversationView, message: WebChatMessage) -> None:
        self.heard.put_nowait((conversation.id, message.body or ""))


async def test_the_quickstart_prints_the_agent_text_and_no_empty_line() -> None:
    agent = _Listener()
    async with Simulator(port=0, heartbeat_interval=None, agent=agent) as sim:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            for_simulator(block("quickstart"), sim),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            cid, said = await asyncio.wait_for(agent.heard.get(), 20)
            assert said == "Hello"
            await sim.agent_say(cid, "Hi Ann, how can I help?")
            await sim.agent_end(cid)
            out, err = await asyncio.wait_for(process.communicate(), 20)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines() == [f"agent: {GREETING}", "agent: Hi Ann, how can I help?"]


async def test_save_and_resume_carries_on_where_it_stopped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace = run(block("save_resume"))
    async with Simulator(port=0, heartbeat_interval=None, agent=_Listener()) as sim:
        first = await GuestSession.start(
            organization_id=sim.organization_id,
            deployment_id=sim.deployment_id,
            member_info=GuestMemberInfo(display_name="Ann"),
            base_url=sim.base_url,
        )
        cid = first.conversation_id
        text = namespace["pause"](first)
        await first.aclose()  # saved: does not leave
        assert not sim.state.conversations[cid].ended
        resumed = asyncio.get_running_loop().create_task(namespace["carry_on"](text))
        await sim.wait_attachments(cid, 2)
        await sim.agent_say(cid, "Still there?")
        await sim.agent_end(cid)
        await asyncio.wait_for(resumed, 20)
    printed = capsys.readouterr().out.split()
    assert printed.count("MessageReceived") >= 2  # the greeting missed while away, the text
    assert printed[-1] == "ConversationEnded"


async def test_the_admin_block_creates_a_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    async with Simulator(port=0, heartbeat_interval=None) as sim:
        namespace = run(for_simulator(block("admin"), sim))
        before = len(sim.state.deployments)
        await namespace["set_up"](sim.client_id, sim.client_secret)
        assert len(sim.state.deployments) == before + 1
    created_id, count, _ = capsys.readouterr().out.split()
    assert created_id in {d.id for d in sim.state.deployments.values()}
    assert int(count) == before + 1


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_readme_simulator_example_passes(pytester: pytest.Pytester, mode: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (snippet,) = [b for b in blocks if "async def test_my_bot_survives_a_drop" in b]
    pytester.makepyfile(test_readme=snippet)
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)


async def test_the_web_messaging_block_gets_the_agents_first_answer() -> None:
    async with Simulator(port=0, heartbeat_interval=None) as sim:
        namespace = run(for_simulator(block("messaging"), sim))
        answer = await asyncio.wait_for(namespace["first_answer"](), 30)
    # The simulator's agent greets a new Web Messaging guest after the first message.
    assert answer == GREETING
