"""``webchat-async demo`` and ``chat`` with ``--protocol messaging`` (Web Messaging)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import uuid

import pytest

from webchat_async.cli import main
from webchat_async.cli._demo import GREETING, GUEST_LINES, run_demo

pytest.importorskip("aiohttp")
pty = pytest.importorskip("pty")

from test_cli_chat_pty import HOSTILE, RAW_PIECES, SHOWN, TIMEOUT, Terminal  # noqa: E402

from webchat_async.simulator import Agent, Simulator  # noqa: E402


def _in_order(text: str, fragments: list[str]) -> None:
    position = 0
    for fragment in fragments:
        found = text.find(fragment, position)
        assert found >= 0, f"{fragment!r} missing after position {position} in:\n{text}"
        position = found


async def test_messaging_demo_plays_the_whole_chat_in_order() -> None:
    out = io.StringIO()
    assert await run_demo(fast=True, protocol="messaging", out=out) == 0
    text = out.getvalue()
    _in_order(
        text,
        [
            "simulator listening on http://127.0.0.1:",
            "Web Messaging session on deployment ",
            # The guest writes first: on Web Messaging that starts the conversation.
            f"Ann (you): {GUEST_LINES[0]}",
            f"Sam (agent): {GREETING}",
            "Sam (agent): Order 1042 shipped yesterday",
            f"Ann (you): {GUEST_LINES[1]}",
            "Sam (agent): Here it is: https://track.example/1042",
            f"Ann (you): {GUEST_LINES[2]}",
            "Sam (agent): You're welcome!",
            "Sam ends the chat",
            "the chat has ended",
            "demo finished",
        ],
    )
    assert "is typing" in text  # the agent's typing indicator has a line
    # Each guest line and each answer exactly once: nothing doubled or replayed.
    for line in (*GUEST_LINES, GREETING, "Order 1042 shipped yesterday"):
        assert text.count(line) == 1, text
    assert "media request" not in text and "screen-share" not in text
    assert "member " not in text and "eyJ" not in text


def test_messaging_demo_command_ends_with_demo_finished() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webchat_async", "demo", "--protocol", "messaging", "--fast"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Sam (agent): Here it is" in done.stdout
    assert done.stdout.splitlines()[-1] == "demo finished"


async def _chat(
    sim: Simulator, token: str | None, *extra: str
) -> tuple[asyncio.subprocess.Process, Terminal]:
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "WEBCHAT_"))}
    if token is not None:
        env["WEBCHAT_MESSAGING_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_async", "chat", "--protocol", "messaging",
        "--base-url", sim.base_url,
        "--deployment-id", sim.deployment_id,
        "--origin", "https://shop.example",
        *extra,
        stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    os.close(slave)
    return proc, Terminal(master)


async def _stop(proc: asyncio.subprocess.Process, term: Terminal) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
    term.close()


async def _stderr(proc: asyncio.subprocess.Process) -> str:
    return (await proc.stderr.read()).decode() if proc.stderr else ""


async def test_messaging_chat_in_a_terminal_and_resumed_with_the_token(
    simulator: Simulator,
) -> None:
    token = str(uuid.uuid4())
    proc, term = await _chat(simulator, token, "--name", "Bob")
    try:
        await term.wait_for("starts with your first message")
        term.type("where is my parcel?\r")
        await term.wait_for("Bob (you): where is my parcel?")
        await term.wait_for("(agent): You said: where is my parcel?")
        cid = simulator.messaging_conversation_id(token)
        await simulator.wait_sockets(cid, 1, timeout=TIMEOUT)

        term.type("/leave\r")
        await term.wait_for("the conversation stays open")
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
        # Leaving closed the socket; a guest cannot end a Web Messaging conversation.
        await simulator.wait_sockets(cid, 0, timeout=TIMEOUT)
        assert not simulator.conversations[cid].ended
        assert token not in term.output  # the session token is a secret
    finally:
        await _stop(proc, term)

    # The same token, in another process: the same conversation, still open.
    proc, term = await _chat(simulator, token, "--name", "Bob")
    try:
        await term.wait_for("Type a message")
        await simulator.wait_sockets(cid, 1, timeout=TIMEOUT)
        await simulator.agent_say(cid, "Welcome back, Bob.")
        await term.wait_for("(agent): Welcome back, Bob.")
        assert simulator.messaging_conversation_id(token) == cid
        term.type("\x04")  # Ctrl-D leaves too
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
        assert token not in term.output
    finally:
        await _stop(proc, term)


async def test_messaging_chat_ended_by_the_agent_exits_0(simulator: Simulator) -> None:
    token = str(uuid.uuid4())
    proc, term = await _chat(simulator, token, "--name", "Ann")
    try:
        await term.wait_for("starts with your first message")  # keys typed before are lost
        term.type("hello\r")
        await term.wait_for("You said: hello")
        await simulator.agent_end(simulator.messaging_conversation_id(token))
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
        end = term.output.rindex("the chat has ended")
        assert "Ann> " not in term.output[end:]  # no prompt drawn under the last line
    finally:
        await _stop(proc, term)


async def test_messaging_sigterm_closes_the_session_then_dies_by_the_signal(
    simulator: Simulator,
) -> None:
    token = str(uuid.uuid4())
    proc, term = await _chat(simulator, token)
    try:
        await term.wait_for("starts with your first message")
        term.type("hello\r")
        await term.wait_for("You said: hello")
        cid = simulator.messaging_conversation_id(token)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == -signal.SIGTERM
        await simulator.wait_sockets(cid, 0, timeout=TIMEOUT)
        assert (await _stderr(proc)).strip() == "terminated"
    finally:
        await _stop(proc, term)


async def _pipe_chat(sim: Simulator, token: str, *options: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "WEBCHAT_"))}
    env["WEBCHAT_MESSAGING_TOKEN"] = token
    env["GENESYS_DEPLOYMENT_ID"] = sim.deployment_id  # the ids come from the environment too
    env["WEBCHAT_BASE_URL"] = sim.base_url
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_async", *options, "chat", "--protocol", "messaging",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip


async def _line_with(stream: asyncio.StreamReader, text: str) -> str:
    while True:
        line = (await asyncio.wait_for(stream.readline(), TIMEOUT)).decode()
        assert line, f"the program ended before {text!r}"
        if text in line:
            return line


async def test_messaging_refused_send_is_reported_and_the_chat_goes_on(
    simulator: Simulator,
) -> None:
    # 4011 (a text too long for the service): shown as not sent, and chatting goes on.
    token = str(uuid.uuid4())
    proc = await _pipe_chat(simulator, token)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"first\n")
        await _line_with(proc.stdout, "You said: first")
        proc.stdin.write(b"x" * 5000 + b"\n")
        refused = await _line_with(proc.stdout, "! not sent:")
        assert "4011" in refused and token not in refused
        proc.stdin.write(b"still here\n")
        await _line_with(proc.stdout, "You said: still here")
        proc.stdin.close()  # end of input leaves the chat
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_messaging_agent_text_and_name_reach_the_terminal_escaped() -> None:
    agent = Agent(name="Sam\x1b[5m", greeting=None)
    async with Simulator(port=0, heartbeat_interval=None, agent=agent) as sim:
        token = str(uuid.uuid4())
        proc = await _pipe_chat(sim, token)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(b"hi\n")
            await _line_with(proc.stdout, "Guest (you): hi")  # this agent does not answer
            await sim.agent_say(sim.messaging_conversation_id(token), HOSTILE)
            line = await _line_with(proc.stdout, "pwned")
            assert line.endswith(f"Sam\\x1b[5m (agent): {SHOWN}\n"), line
            assert not any(piece in line for piece in RAW_PIECES), line
            proc.stdin.close()
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def test_messaging_usage_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GENESYS_DEPLOYMENT_ID", raising=False)
    base = ["chat", "--protocol", "messaging", "--base-url", "http://127.0.0.1:9"]
    with pytest.raises(SystemExit) as exc:
        main(base)
    assert exc.value.code == 2 and "--deployment-id is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([*base, "--deployment-id", "d", "--queue", "Support"])
    assert exc.value.code == 2 and "Web Chat v2 only" in capsys.readouterr().err
    # The session token is a secret: there is no flag that would show it to ``ps``.
    with pytest.raises(SystemExit) as exc:
        main([*base, "--deployment-id", "d", "--token", "secret-token-value"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--protocol", "carrier-pigeon"])
    assert exc.value.code == 2


def test_a_bad_messaging_token_is_one_line_without_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBCHAT_MESSAGING_TOKEN", "secret\x1bvalue")
    args = ["--deployment-id", "d", "--base-url", "http://127.0.0.1:9"]
    assert main(["chat", "--protocol", "messaging", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "secret" not in err and "value" not in err


def test_chat_help_documents_the_messaging_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webchat_async", "chat", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    help_text = " ".join(done.stdout.split())
    for needle in (
        "--protocol {webchat,messaging}",
        "--origin",
        "GENESYS_ORIGIN",
        "WEBCHAT_MESSAGING_TOKEN",
        "Web Chat v2 only, Web Messaging needs none",  # --organization-id
        "Web Messaging sends none",  # --name
    ):
        assert needle in help_text, needle
    assert "--token" not in help_text


async def test_messaging_drop_is_shown_and_the_verbose_log_keeps_the_token(
    simulator: Simulator,
) -> None:
    token = str(uuid.uuid4())
    proc = await _pipe_chat(simulator, token, "--verbose")
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"first\n")
        await _line_with(proc.stdout, "You said: first")
        cid = simulator.messaging_conversation_id(token)
        assert simulator.faults.drop_sockets(cid) == 1
        await _line_with(proc.stdout, "! connection lost")
        # Said around the reconnect (pushed live, or read from the history when the socket
        # was still down): shown exactly once either way.
        await simulator.agent_say(cid, "said around the drop")
        seen: list[str] = []
        for until in ("! reconnected", "You said: second"):
            while not seen or until not in seen[-1]:
                line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
                assert line, "".join(seen)
                seen.append(line)
            if until == "! reconnected":
                proc.stdin.write(b"second\n")
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
        rest = (await proc.stdout.read()).decode()
        assert "".join(seen).count("said around the drop") == 1, "".join(seen)
        err = await _stderr(proc)
        assert "DEBUG" in err  # the log was on
        assert token not in err and token not in rest and token not in "".join(seen)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_messaging_interactive_demo_on_a_pipe() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_async", "demo", "--protocol", "messaging",
        "--interactive", "--fast",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        await _line_with(proc.stdout, "starts with your first message")
        proc.stdin.write(b"Where is my order?\n")
        await _line_with(proc.stdout, "Ann (you): Where is my order?")
        await _line_with(proc.stdout, f"Sam (agent): {GREETING}")
        await _line_with(proc.stdout, "Sam (agent): Order 1042 shipped yesterday")
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
