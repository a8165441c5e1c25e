"""``webchat-async simulator`` serves the console (on the loopback unless refused), and
``webchat-async demo --console`` prints its URL and keeps the simulator up."""

from __future__ import annotations

import argparse
import asyncio
import io

import aiohttp
import pytest

pytest.importorskip("aiohttp")

from webchat_async.cli._demo import run_demo
from webchat_async.cli._simulator import add_simulator_arguments, simulator_options
from webchat_async.simulator import Simulator
from webchat_async.simulator._serve import serve


def options(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    return simulator_options(parser.parse_args(list(argv)))


def test_the_simulator_command_serves_the_console_on_the_loopback_unless_refused() -> None:
    assert options()["console"] is True
    assert options("--no-console")["console"] is False
    # Beyond the loopback only when asked (Simulator would refuse it otherwise).
    assert options("--host", "0.0.0.0")["console"] is False
    beyond = options("--host", "0.0.0.0", "--console-beyond-loopback")
    assert beyond["console"] is True and beyond["console_beyond_loopback"] is True


async def test_serve_prints_the_console_url() -> None:
    out, err = io.StringIO(), io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve("127.0.0.1", 0, out=out, err=err, stop=stop, options=options())
    )
    while "Press Ctrl+C" not in out.getvalue():
        await asyncio.sleep(0)  # serve() prints as soon as it listens; no wall-clock wait
        assert not task.done(), task
    lines = out.getvalue().splitlines()
    (console,) = [line for line in lines if line.startswith("console:")]
    base = next(line for line in lines if "listening on" in line).rsplit(" ", 1)[1]
    assert console.split()[-1] == f"{base}/console"
    async with aiohttp.ClientSession() as http, http.get(console.split()[-1]) as page:
        assert page.status == 200 and "webchat-async console" in await page.text()
    stop.set()
    await task


async def test_demo_with_the_console_prints_its_url_and_holds_the_simulator() -> None:
    out = io.StringIO()
    seen: list[str] = []

    async def hold(sim: Simulator) -> None:
        # The chat is over, the simulator still serves its console and the record.
        assert sim.console_url is not None and sim.console_url in out.getvalue()
        (conversation_id,) = sim.conversations
        url = f"{sim.base_url}/console/api/conversations/{conversation_id}/transcript.txt"
        async with aiohttp.ClientSession() as http, http.get(url) as answer:
            seen.append(await answer.text())

    assert await run_demo(fast=True, out=out, console=True, hold=hold) == 0
    text = out.getvalue()
    assert "console: http://127.0.0.1:" in text and "Ctrl-C stops it" in text
    assert text.rstrip().endswith("demo finished")
    assert "Where is my order 1042?" in seen[0]


async def test_the_demo_without_the_console_serves_none() -> None:
    out = io.StringIO()
    assert await run_demo(fast=True, out=out) == 0
    assert "console" not in out.getvalue()


@pytest.mark.webchat_simulator(console=True, heartbeat_interval=None)
async def test_the_pytest_plugins_simulator_serves_the_console_on_request(
    webchat_simulator: Simulator,
) -> None:
    assert webchat_simulator.console_url is not None
    async with aiohttp.ClientSession() as http, http.get(webchat_simulator.console_url) as page:
        assert page.status == 200
