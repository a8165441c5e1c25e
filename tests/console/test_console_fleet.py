"""The console's fleet view: which worker holds each chat, in the list and on the timeline.

The poll is driven by the tests (``Console.poll_fleet``; the console's own task waits an
hour between two reads), so nothing waits on the clock."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

pytest.importorskip("aiohttp")

from console_sse import read_event
from console_support import FakeFleet

from webchat_async import Event, GuestMemberInfo, WebChatApi
from webchat_async.errors import WebChatError
from webchat_async.simulator import FleetView, Simulator
from webchat_async.simulator._console import FLEET_CHAT_LIMIT, Console
from webchat_async.worker import (
    Chat,
    Fleet,
    FleetStatus,
    MemoryStore,
    StoreError,
    Worker,
)

HOUR = 3600.0


def console_of(sim: Simulator) -> Console:
    console = sim._console
    assert console is not None
    return console


def new_chat(sim: Simulator, name: str = "Ann") -> str:
    from webchat_async.models import WebChatMemberInfo

    conversation = sim.state.new_conversation(
        deployment_id=None, guest=WebChatMemberInfo(display_name=name)
    )
    return conversation.id


async def test_a_change_of_holder_updates_the_row_and_the_timeline_and_no_change_nothing() -> None:
    view = FakeFleet()
    sim = Simulator(console=True, fleet=view, fleet_interval=HOUR)
    console = console_of(sim)
    cid, other = new_chat(sim), new_chat(sim, "Bo")
    feed = console.feed
    woken: list[None] = []
    page = feed.subscribe(cid, lambda: woken.append(None))
    assert [r["holder"] for r in feed.rows([cid, other])] == ["-", "-"]

    async def poll() -> tuple[list[str], dict[str, str]]:
        assert await console.poll_fleet()
        _overflowed, entries, changed = page.take()
        return [e["text"] for e in entries if e["kind"] == "fleet"], {
            r["id"]: r["holder"] for r in feed.rows(changed)
        }

    assert await poll() == ([], {})  # nothing in the fleet yet: nothing to say
    view.owners = {cid: ""}
    assert await poll() == (["in the fleet, not held yet"], {cid: "unclaimed"})
    view.owners = {cid: "w-1"}
    assert await poll() == (["held by w-1"], {cid: "w-1"})
    woken.clear()
    assert await poll() == ([], {})  # the same holder: no row, no entry, no wake-up
    assert woken == []
    view.owners = {cid: "w-2", other: "w-1"}
    # The followed chat's failover is on its timeline; the other's row changes too.
    assert await poll() == (["held by w-2 (after w-1)"], {cid: "w-2", other: "w-1"})
    view.owners = {cid: "", other: "w-1"}
    assert await poll() == (["released by w-2"], {cid: "unclaimed"})
    view.owners = {other: "w-1"}
    view.given_up = {cid: "could not resume for 600 s"}
    assert await poll() == (
        ["given up by the fleet: could not resume for 600 s"],
        {cid: "given up"},
    )
    view.given_up = {}
    assert await poll() == (["out of the fleet (finished)"], {cid: "-"})
    entry = feed.timeline(cid)[-1]
    assert entry["kind"] == "fleet" and entry["who"] == "system"
    assert view.limits == [FLEET_CHAT_LIMIT] * view.reads


async def test_a_full_listing_keeps_the_holder_of_a_chat_it_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from webchat_async.simulator import _console

    view = FakeFleet()
    sim = Simulator(console=True, fleet=view, fleet_interval=HOUR)
    console = console_of(sim)
    cid, other = new_chat(sim), new_chat(sim)
    view.owners = {cid: "w-1", other: "w-1"}
    assert await console.poll_fleet()
    monkeypatch.setattr(_console, "FLEET_CHAT_LIMIT", 1)
    view.owners = {other: "w-1"}  # the store listed its limit: cid may be past it
    assert await console.poll_fleet()
    assert console.feed.holder(cid) == "w-1"
    monkeypatch.setattr(_console, "FLEET_CHAT_LIMIT", 2)
    assert await console.poll_fleet()  # a shorter list is the whole fleet: cid is gone
    assert console.feed.holder(cid) == "-"


async def test_a_failing_fleet_view_is_logged_once_retried_and_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    view = FakeFleet()
    sim = Simulator(console=True, fleet=view, fleet_interval=HOUR)
    console = console_of(sim)
    cid = new_chat(sim)
    view.failure = ConnectionError("redis://:hunter2@db:6379 refused")
    with caplog.at_level(logging.INFO, logger="webchat_async.simulator"):
        assert not await console.poll_fleet()
        assert not await console.poll_fleet()
        view.failure = StoreError("the Redis store failed: TimeoutError")
        assert not await console.poll_fleet()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # once per outage, not once per read
        assert "ConnectionError" in warnings[0].getMessage()
        assert "hunter2" not in warnings[0].getMessage()  # another's error text may hold one
        view.failure = None
        view.owners = {cid: "w-1"}
        assert await console.poll_fleet()
        assert console.feed.holder(cid) == "w-1"
        assert "answers again" in caplog.records[-1].getMessage()
        view.failure = StoreError("the Redis store failed: TimeoutError")
        assert not await console.poll_fleet()  # a new outage is logged again, with its text
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "TimeoutError" in warnings[1].getMessage()
    assert isinstance(view.failure, WebChatError)


def test_a_fleet_needs_the_console_and_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="console=True"):
        Simulator(fleet=FakeFleet())
    with pytest.raises(ValueError, match="fleet_interval"):
        Simulator(console=True, fleet=FakeFleet(), fleet_interval=0)
    store: FleetView = MemoryStore()  # a worker store is a fleet view (mypy checks it)
    assert repr(console_of(Simulator(console=True, fleet=store))) == "<Console pages=0 fleet=True>"


async def test_the_console_reads_the_fleet_when_it_starts_and_stops_with_the_simulator() -> None:
    view = FakeFleet()
    read = asyncio.Event()
    status = view.status

    async def counted(*, chat_limit: int = 1000) -> FleetStatus:
        read.set()
        return await status(chat_limit=chat_limit)

    view.status = counted  # type: ignore[method-assign]
    sim = Simulator(console=True, fleet=view, fleet_interval=HOUR, heartbeat_interval=None)
    async with sim:
        await asyncio.wait_for(read.wait(), 5)
        task = console_of(sim)._fleet_task
        assert task is not None and not task.done()
    assert task.done() and console_of(sim)._fleet_task is None


async def quiet(chat: Chat, event: Event) -> None:
    """A handler that only holds its chats."""


async def holders_until(
    response: aiohttp.ClientResponse, conversation_id: str, holder: str
) -> tuple[list[str], list[str]]:
    """The holders the ``rows`` events gave the chat, and the ``fleet`` entries, up to the
    first row held by ``holder``."""
    holders: list[str] = []
    entries: list[str] = []
    while True:
        name, data = await read_event(response)
        rows: list[dict[str, Any]] = data["rows"] if name in ("rows", "snapshot") else []
        if name == "entries":
            entries.extend(e["text"] for e in data["entries"] if e["kind"] == "fleet")
        for row in rows:
            if row["id"] == conversation_id:
                holders.append(row["holder"])
        if holders and holders[-1] == holder:
            return holders, entries


async def test_the_stream_shows_the_new_holder_when_a_worker_stops_and_another_takes_over() -> None:
    store = MemoryStore()
    async with (
        Simulator(console=True, fleet=store, fleet_interval=HOUR, heartbeat_interval=None) as sim,
        WebChatApi(base_url=sim.base_url) as api,
        aiohttp.ClientSession() as http,
    ):
        console = console_of(sim)
        one = Worker(quiet, store=store, worker_id="w-1", scan_interval=0.05)
        two = Worker(quiet, store=store, worker_id="w-2", scan_interval=0.05)
        async with one:
            started = await Fleet(store, api=api).start_chat(
                organization_id=sim.organization_id,
                deployment_id=sim.deployment_id,
                member_info=GuestMemberInfo(display_name="Ann"),
            )
            cid = started.conversation_id
            await one.wait_for(lambda w: cid in w.chats, timeout=20)
            url = f"{sim.base_url}/console/api/stream?conversation={cid}"
            async with http.get(url) as stream:
                name, snapshot = await read_event(stream)
                assert name == "snapshot" and snapshot["fleet"] is True
                await console.poll_fleet()
                holders, entries = await holders_until(stream, cid, "w-1")
                # Rows before the poll (the worker's socket attaching) say "-" only.
                assert set(holders[:-1]) <= {"-"} and entries == ["held by w-1"]
                async with two:
                    await one.stop()  # w-1 hands its chat over to the other live worker
                    await two.wait_for(lambda w: cid in w.chats, timeout=20)
                    await console.poll_fleet()
                    holders, entries = await holders_until(stream, cid, "w-2")
                    assert set(holders[:-1]) <= {"w-1"}  # no poll between: no "unclaimed"
                    assert entries == ["held by w-2 (after w-1)"]
                    timeline = console.feed.timeline(cid)
                    assert [e["text"] for e in timeline if e["kind"] == "fleet"] == [
                        "held by w-1",
                        "held by w-2 (after w-1)",
                    ]


async def test_the_worker_demo_gives_its_store_to_the_console(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from webchat_async.worker._cli import _demo
    from webchat_async.worker.demo import echo

    store = MemoryStore()
    worker = Worker(echo, store=store, worker_id="w-demo", scan_interval=0.05)
    snapshots: list[dict[str, Any]] = []

    async def hold(sim: Simulator) -> None:
        # The demo is over; the simulator still serves the console, showing the store.
        assert console_of(sim)._fleet is store
        assert f"console: {sim.console_url}\n" in capsys.readouterr().out
        async with (
            aiohttp.ClientSession() as http,
            http.get(sim.base_url + "/console/api/stream") as stream,
        ):
            snapshots.append((await read_event(stream))[1])

    await _demo(worker, store, 2, 2, console=True, hold=hold)
    (snapshot,) = snapshots
    assert snapshot["fleet"] is True
    assert sorted(r["guest"] for r in snapshot["rows"]) == ["Guest 0", "Guest 1"]
    # Each chat was finished by the worker: out of the fleet's store.
    assert {r["holder"] for r in snapshot["rows"]} == {"-"}


def test_the_worker_console_needs_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    from webchat_async.cli import main

    assert main(["worker", "webchat_async.worker.demo:echo", "--console"]) == 2
    assert "--demo" in capsys.readouterr().err
