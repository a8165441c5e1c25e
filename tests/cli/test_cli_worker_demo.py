"""``webchat-async worker --demo N --demo-forever`` runs until Ctrl-C and shows takeovers
(issue 25, item 4).

The plain ``--demo`` ends when its scripted chats end, before anyone could start a second
worker and watch a failover. With ``--demo-forever`` the agent never ends its chats and the
worker runs until Ctrl-C / SIGTERM; the worker's output shows each chat it takes over, from a
worker that died (the worker's log line, printed) or one that handed it over on stopping.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import webchat_async
from webchat_async import GuestMemberInfo, WebChatApi
from webchat_async.simulator import Agent, Simulator
from webchat_async.worker import Fleet, MemoryStore, Worker
from webchat_async.worker.demo import echo

pytest.importorskip("aiohttp")

ROOT = str(Path(webchat_async.__file__).resolve().parents[1])

# A handler that is the demo's echo, and presses Ctrl-C (SIGINT to its own process) after
# answering 16 agent messages: more than the 2 chats x 5 lines a plain --demo has.
CTRL_C_HANDLER = """
import os
import signal

from webchat_async import MessageReceived
from webchat_async.worker.demo import echo

answered = 0


async def handler(chat, event):
    global answered
    await echo(chat, event)
    if isinstance(event, MessageReceived) and not chat.is_own(event.message):
        answered += 1
        if answered == 16:
            os.kill(os.getpid(), signal.SIGINT)
"""


DEMO_ARGS = ("--demo", "2", "--demo-forever", "--demo-pace", "0.01")


def test_demo_forever_runs_past_the_script_until_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "ctrl_c_bot.py").write_text(textwrap.dedent(CTRL_C_HANDLER))
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("WEBCHAT_REDIS_URL", None)  # the memory store
    done = subprocess.run(
        [sys.executable, "-m", "webchat_async", "worker", "ctrl_c_bot:handler", *DEMO_ARGS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "a line every 0.01 s each, until Ctrl-C" in lines[1]
    assert "run with --redis URL to watch other workers take chats over" in lines[2]
    summary = [line for line in lines if line.startswith("demo: 2 of 2 chats answered")]
    assert summary, done.stdout
    total = int(summary[0].split("(")[1].split()[0])
    # The chats went on past the plain demo's 5 lines each (the last answers may not have
    # been posted when Ctrl-C stopped the worker after the event being handled).
    assert total > 2 * 5
    assert lines[-1].endswith("stopped, chats handed over")


async def test_a_chat_handed_over_is_shown_by_the_worker_that_takes_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from webchat_async.worker._cli import _show_handovers

    store = MemoryStore()
    async with Simulator(port=0, heartbeat_interval=None, agent=Agent(greeting="hi")) as sim:
        async with WebChatApi(base_url=sim.base_url) as api:
            b = Worker(echo, store=store, worker_id="B", lease=30.0)
            await b.__aenter__()
            try:
                started = await Fleet(store, api=api).start_chat(  # on B, the only worker
                    organization_id=sim.organization_id,
                    deployment_id=sim.deployment_id,
                    member_info=GuestMemberInfo(display_name="Bot"),
                )
                cid = started.conversation_id
                await b.wait_for(lambda w: cid in w.chats, timeout=20)
                async with Worker(echo, store=store, worker_id="A", lease=30.0) as a:
                    watcher = asyncio.get_running_loop().create_task(_show_handovers(a))
                    await b.__aexit__(None, None, None)  # B stops: hands its chat to A
                    await a.wait_for(lambda w: cid in w.chats, timeout=20)
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
            finally:
                await b.__aexit__(None, None, None)
    out = capsys.readouterr().out
    assert f"worker A took chat {cid} over, handed to it (token 2)" in out


def test_the_worker_log_is_printed_escaped_and_put_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from webchat_async.worker._cli import _print_fleet_log

    logger = logging.getLogger("webchat_async.worker")
    level, handlers = logger.level, list(logger.handlers)
    undo = _print_fleet_log()
    try:
        logger.info("worker %s took chat %s over from %s (token %d)", "A", "c-1", "B\x1b[2J", 3)
        logger.debug("not shown")
    finally:
        undo()
    logger.info("after the run: not printed")
    out = capsys.readouterr().out
    assert out == "worker A took chat c-1 over from B\\x1b[2J (token 3)\n"
    assert (logger.level, logger.handlers) == (level, handlers)
