"""Every example runs against the embedded simulator, and the notebook executes."""

from __future__ import annotations

import asyncio
import importlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

pytest.importorskip("aiohttp")

from webchat_async.simulator import Simulator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def examples() -> Iterator[None]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLES))


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.usefixtures("examples")
async def test_quickstart_gets_the_greeting_and_an_answer() -> None:
    answers = await _load("quickstart").main([])
    assert answers == [
        "Hello, I'm Sam. How can I help you today?",
        "You said: Hello! Is anyone there?",
    ]


@pytest.mark.usefixtures("examples")
async def test_echo_bot_worker_drives_many_sessions_and_shuts_down_clean() -> None:
    tally = await _load("echo_bot_worker").main(["--sessions", "8", "--lines", "2"])
    assert (tally.sent, tally.answered, tally.failed) == (16, 16, 0)


@pytest.mark.usefixtures("examples")
async def test_echo_bot_worker_deadline_cancels_every_session() -> None:
    # A deadline of 0 cancels the workers at once: cancellation is not counted as a
    # failure, and nothing is left running (pytest fails on un-awaited tasks/warnings).
    tally = await _load("echo_bot_worker").main(["--sessions", "4", "--deadline", "0"])
    assert tally.failed == 0
    assert tally.answered <= tally.sent


@pytest.mark.usefixtures("examples")
async def test_admin_deployments_example() -> None:
    report = await _load("admin_deployments").main([])
    assert report == {
        "before": ["Simulator default"],
        "description": "made by examples/admin_deployments.py",
        "require_deployment": True,
        "deleted": True,
    }


@pytest.mark.usefixtures("examples")
async def test_async_service_answers_through_a_shared_api(simulator: Simulator) -> None:
    from aiohttp import web

    service = _load("async_service")
    target = _load("_target").Target(
        simulator.organization_id, simulator.deployment_id, {"base_url": simulator.base_url}
    )
    runner = web.AppRunner(service.build_app(target))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            first = await client.post("/ask", json={"name": "Ann", "text": "Where is my order?"})
            second = await client.post("/ask", json={"name": "Bob", "text": "Second question"})
            bad = await client.post("/ask", json={"name": "Bob"})
    finally:
        await runner.cleanup()
    assert first.status_code == 200, first.text
    assert first.json()["answer"] == "You said: Where is my order?"
    assert second.json()["answer"] == "You said: Second question"
    assert first.json()["conversationId"] != second.json()["conversationId"]
    assert bad.status_code == 400
    # Each request's session left its conversation on the way out.
    assert all(c.ended for c in simulator.state.conversations.values())


def test_notebook_executes_with_top_level_await() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = [
        "".join(str(o.get("text") or o.get("data", {}).get("text/plain", "")) for o in c.outputs)
        for c in nb.cells
        if c.cell_type == "code"
    ]
    assert outputs[0] == "True"
    assert "GuestSession" in outputs[1] and "jwt" not in outputs[1].lower()
    assert outputs[2].strip() == "You said: Hello from a notebook"
    assert "Hello from a notebook" in outputs[3]
    assert outputs[4] == "True"


async def test_echo_bot_worker_stops_cleanly_on_sigterm(simulator: Simulator) -> None:
    # As a service manager stops it: SIGTERM while sessions are mid-conversation. Every
    # session leaves its conversation (none left for the service's grace period) and the
    # worker exits 0 after printing its tally.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "echo_bot_worker.py"),
        "--organization-id", simulator.organization_id,
        "--deployment-id", simulator.deployment_id,
        "--base-url", simulator.base_url,
        "--sessions", "5", "--lines", "100000",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        started = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert started.decode().strip() == "5 sessions chatting"
        assert len(simulator.state.conversations) == 5
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    tally = out.decode().strip()
    assert tally.startswith("sessions=5 ") and tally.endswith("failed=0 (stopped)"), tally
    assert [c.ended for c in simulator.state.conversations.values()] == [True] * 5


async def test_async_service_listens_on_a_free_port_and_prints_it() -> None:
    # No fixed port (8081 was taken on many machines): --port defaults to 0 and the
    # printed address is the one really bound.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "async_service.py"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = line.split()[2]
        assert line.startswith("serving on http://127.0.0.1:") and url.endswith("/ask")
        assert not url.startswith("http://127.0.0.1:0/")
        async with httpx.AsyncClient() as client:
            answer = await client.post(url, json={"name": "Ann", "text": "ping"}, timeout=30)
        assert answer.json()["answer"] == "You said: ping"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
