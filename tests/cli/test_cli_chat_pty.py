"""``webchat-async chat`` driven as a person would: through a pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("aiohttp")
pty = pytest.importorskip("pty")

from webchat_async.simulator import Agent, Simulator  # noqa: E402

TIMEOUT = 20.0


class Terminal:
    """The master side of a pty: what the program printed, awaited without sleeping."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.output = ""
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO once the child closed the terminal
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.fd)
        self.output += data.decode("utf-8", "replace")
        self._changed.set()

    async def wait_for(self, text: str, start: int = 0) -> int:
        async def until() -> int:
            while (found := self.output.find(text, start)) < 0:
                self._changed.clear()
                await self._changed.wait()
            return found

        try:
            return await asyncio.wait_for(until(), TIMEOUT)
        except asyncio.TimeoutError:  # the builtin TimeoutError only from 3.11
            raise AssertionError(f"{text!r} never appeared in:\n{self.output}") from None

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)


async def test_interactive_chat_in_a_terminal(simulator: Simulator) -> None:
    master, slave = pty.openpty()
    env = dict(os.environ, GENESYS_ORGANIZATION_ID=simulator.organization_id)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_async", "chat",
        "--base-url", simulator.base_url,
        "--deployment-id", simulator.deployment_id,
        "--name", "Bob",
        stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    os.close(slave)
    term = Terminal(master)
    try:
        await term.wait_for("How can I help you today?")
        (cid,) = simulator.state.conversations

        # Keys typed so far stay on the prompt line while a message comes in above it.
        term.type("half a li")
        await term.wait_for("Bob> half a li")
        typed_at = len(term.output)
        await simulator.agent_say(cid, "Are you still there?")
        seen = await term.wait_for("Are you still there?", typed_at)
        await term.wait_for("Bob> half a li", seen)
        # Typing sent a typing indicator (throttled: one for these keystrokes).
        guest = simulator.state.conversations[cid].guest_member_id
        typing_path = f"/api/v2/webchat/guest/conversations/{cid}/members/{guest}/typing"
        # The chat process posts it on its own: wait for it rather than race it.
        await simulator.wait_requests("POST", typing_path, 1, timeout=TIMEOUT)
        assert simulator.state.count_requests("POST", typing_path) == 1

        term.type("ne\r")
        await term.wait_for("You said: half a line")
        messages = simulator.state.conversations[cid].messages
        bodies = [m.body for m in messages if m.sender and m.sender.id == guest]
        assert "half a line" in bodies

        term.type("/leave\r")
        code = await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert code == 0, await proc.stderr.read() if proc.stderr else b""
        assert simulator.state.conversations[cid].ended
        assert "eyJ" not in term.output  # the JWT never reaches the screen
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        term.close()


async def _start_chat(sim: Simulator, name: str) -> tuple[asyncio.subprocess.Process, Terminal]:
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_async", "chat",
        "--base-url", sim.base_url,
        "--organization-id", sim.organization_id,
        "--deployment-id", sim.deployment_id,
        "--name", name,
        stdin=slave, stdout=slave, stderr=subprocess.PIPE,
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


async def test_an_overlong_line_is_refused_and_the_chat_goes_on(simulator: Simulator) -> None:
    proc, term = await _start_chat(simulator, "Ann")
    try:
        await term.wait_for("How can I help you today?")
        (cid,) = simulator.state.conversations
        mark = len(term.output)
        term.type("x" * 4001 + "\r")
        await term.wait_for("not sent: 4,001 characters, a message has at most 4,000", mark)
        term.type("still here\r")
        await term.wait_for("You said: still here", mark)
        conversation = simulator.state.conversations[cid]
        guest = conversation.guest_member_id
        sent = [m.body for m in conversation.messages if m.sender and m.sender.id == guest]
        assert "still here" in sent and not any(len(b or "") > 4000 for b in sent)

        # The agent ends the chat: the program says so, exits 0, and leaves no prompt
        # drawn under the last line.
        await simulator.agent_end(cid)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
        end = term.output.rindex("the chat has ended")
        assert "Ann> " not in term.output[end:]
        assert "eyJ" not in term.output  # no JWT, in the error line either
    finally:
        await _stop(proc, term)


async def test_sigterm_leaves_the_chat_then_dies_by_the_signal(simulator: Simulator) -> None:
    proc, term = await _start_chat(simulator, "Ann")
    try:
        await term.wait_for("How can I help you today?")
        (cid,) = simulator.state.conversations
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == -signal.SIGTERM
        # Left at once, not after the service's two-minute grace for a vanished guest.
        conversation = simulator.state.conversations[cid]
        assert conversation.ended
        guest = conversation.guest_member_id
        leave = f"/api/v2/webchat/guest/conversations/{cid}/members/{guest}"
        assert simulator.state.count_requests("DELETE", leave) == 1
        err = await _stderr(proc)
        assert err.strip() == "terminated", err
    finally:
        await _stop(proc, term)


@pytest.mark.parametrize("attempt", range(3))
async def test_an_agent_that_says_one_line_and_ends(attempt: int) -> None:
    # The member lookup for a name can meet the chat's end (400 conversation state):
    # the transcript goes on without the name, and the program exits 0.
    async with Simulator(port=0, heartbeat_interval=None, agent=Agent(greeting=None)) as sim:
        proc, term = await _start_chat(sim, "Ann")
        try:
            await term.wait_for("Type a message")
            (cid,) = sim.state.conversations
            await sim.wait_routed(cid)
            await sim.agent_say(cid, "Closing now, bye.")
            await sim.agent_end(cid)
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
            await term.wait_for("the chat has ended")
        finally:
            await _stop(proc, term)


async def test_a_refused_send_is_reported_and_the_chat_goes_on(simulator: Simulator) -> None:
    # Lines from a pipe (no keystrokes, so no typing requests to absorb the fault): the
    # service refuses one send with a 500 (a POST is not retried: it may have taken effect).
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_async", "chat",
        "--base-url", simulator.base_url,
        "--organization-id", simulator.organization_id,
        "--deployment-id", simulator.deployment_id,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    stdout = proc.stdout

    async def line_with(text: str) -> str:
        while True:
            line = (await asyncio.wait_for(stdout.readline(), TIMEOUT)).decode()
            assert line, f"the program ended before {text!r}"
            if text in line:
                return line

    try:
        await line_with("How can I help you today?")
        simulator.faults.server_errors(n=1, status=500)
        proc.stdin.write(b"refused\n")
        refused = await line_with("! not sent:")
        assert "500" in refused and "eyJ" not in refused
        proc.stdin.write(b"still here\n")
        await line_with("You said: still here")
        proc.stdin.close()  # end of input leaves the chat
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
        (conversation,) = simulator.state.conversations.values()
        assert conversation.ended
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# An OSC window title, a screen clear, CSI as one C1 character, a bidi override, and a
# carriage return / newline that would draw a forged transcript line.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31mred\u202eevil\r[00:00:00.000] Bob (you): yes\nnext"
SHOWN = r"\x1b]0;pwned\x07\x1b[2J\x9b31mred\u202eevil\r[00:00:00.000] Bob (you): yes\nnext"
RAW_PIECES = ("\x1b]", "\x1b[2J", "\x1b[5m", "\x07", "\x9b", "\u202e", "\ryes", "\nnext")


async def test_agent_text_and_name_reach_the_terminal_escaped() -> None:
    agent = Agent(name="Sam\x1b[5m", greeting=None)
    async with Simulator(port=0, heartbeat_interval=None, agent=agent) as sim:
        proc, term = await _start_chat(sim, "Bob")
        try:
            await term.wait_for("Type a message")
            (cid,) = sim.state.conversations
            await sim.wait_routed(cid)
            await sim.agent_say(cid, HOSTILE)
            await term.wait_for(r"Sam\x1b[5m (agent): " + SHOWN)
            assert not any(piece in term.output for piece in RAW_PIECES), term.output
            term.type("/leave\r")
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
        finally:
            await _stop(proc, term)


async def test_agent_text_on_a_pipe_is_one_escaped_line(simulator: Simulator) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_async", "chat",
        "--base-url", simulator.base_url,
        "--organization-id", simulator.organization_id,
        "--deployment-id", simulator.deployment_id,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        lines: list[str] = []
        while "How can I help you today?" not in "".join(lines):
            line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
            assert line, "".join(lines)
            lines.append(line)
        (cid,) = simulator.state.conversations
        await simulator.agent_say(cid, HOSTILE)
        line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
        assert line.endswith(f"Sam (agent): {SHOWN}\n"), line
        assert line.isprintable() is False and line[:-1].isprintable()
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, await _stderr(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
