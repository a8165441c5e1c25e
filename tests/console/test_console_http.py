"""The console's server side over HTTP: who may use it, its headers, the live stream,
the fault buttons, the exports and its bounds (no browser needed)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

pytest.importorskip("aiohttp")

from console_sse import entries_until, read_event

from webchat_async import Backoff, GuestMemberInfo, GuestSession
from webchat_async.simulator import Simulator, _console, _console_feed
from webchat_async.simulator._console import CONTENT_SECURITY_POLICY

STATIC = Path(_console.__file__).parent / "console"
TOKEN = "console-test-token"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def start_guest(sim: Simulator) -> GuestSession:
    session = await GuestSession.start(
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=GuestMemberInfo(display_name="Ann"),
        base_url=sim.base_url,
        backoff=Backoff.none(),
        proxy=None,
    )
    await sim.wait_routed(session.conversation_id)
    return session


async def test_no_console_unless_asked(http: aiohttp.ClientSession) -> None:
    async with Simulator(heartbeat_interval=None) as sim:
        assert sim.console_url is None
        for path in ("/console", "/console/api/stream", "/console/static/console.js"):
            async with http.get(sim.base_url + path) as response:
                assert response.status == 404, path


def test_beyond_the_loopback_only_when_opted_in() -> None:
    with pytest.raises(ValueError, match="console_beyond_loopback=True"):
        Simulator(host="0.0.0.0", console=True)
    # Built, never started: opted in, it runs behind the generated admin token.
    sim = Simulator(host="0.0.0.0", console=True, console_beyond_loopback=True)
    assert sim.admin_token is not None
    assert Simulator(host="0.0.0.0").admin_token is not None  # no console: unchanged


async def test_every_answer_carries_the_security_headers(
    console_sim: Simulator, http: aiohttp.ClientSession
) -> None:
    base = console_sim.base_url
    for path, kind in [
        ("/console", "text/html"),
        ("/console/static/console.js", "text/javascript"),
        ("/console/static/console.css", "text/css"),
        ("/console/static/nothing.js", "application/json"),
        ("/console/api/conversations/nope/export.json", "application/json"),
    ]:
        async with http.get(base + path) as response:
            assert response.content_type == kind, path
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["Cache-Control"] == "no-store"
    async with http.get(base + "/console/api/stream") as response:
        assert response.content_type == "text/event-stream"
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_the_page_is_plain_files_that_never_parse_markup_or_reach_another_host() -> None:
    script = (STATIC / "console.js").read_text()
    page = (STATIC / "index.html").read_text()
    style = (STATIC / "console.css").read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("on',
    ):
        assert sink not in script, sink
    # The CSP allows no inline code: the page has none, and loads only its own files.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/console/static/console.js" defer>']
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)
    for text in (script, page, style):
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), "another host"


async def test_the_stream_sends_a_snapshot_then_what_happens_live(
    console_sim: Simulator, http: aiohttp.ClientSession
) -> None:
    session = await start_guest(console_sim)
    async with session:
        cid = session.conversation_id
        url = f"{console_sim.base_url}/console/api/stream?conversation={cid}"
        async with http.get(url) as stream:
            name, snapshot = await read_event(stream)
            assert name == "snapshot" and snapshot["conversationId"] == cid
            assert [row["id"] for row in snapshot["rows"]] == [cid]
            texts = [e["text"] for e in snapshot["timeline"]]
            assert texts[:2] == ["conversation created", "stream connected; 1 open"]
            assert "Hello, I'm Sam. How can I help you today?" in texts
            await session.send_message("live one")
            seen = await entries_until(stream, "You said: live one")
            kinds = [(e["kind"], e["who"], e["text"]) for e in seen]
            assert ("message", "guest", "live one") in kinds
            assert ("typing", "agent", "Sam is typing") in kinds
            seqs = [e["seq"] for e in snapshot["timeline"] + seen]
            assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice


async def test_a_page_that_falls_behind_gets_a_new_snapshot(
    console_sim: Simulator, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_console_feed, "MAX_PENDING", 3)
    session = await start_guest(console_sim)
    async with session:
        cid = session.conversation_id
        url = f"{console_sim.base_url}/console/api/stream?conversation={cid}"
        async with http.get(url) as stream:
            assert (await read_event(stream))[0] == "snapshot"
            feed = console_sim._console.feed  # type: ignore[union-attr]
            for i in range(10):  # no await between: the page reads none of them meanwhile
                feed.note(cid, "fault", f"note {i}")
            name, data = await read_event(stream)
            assert name == "snapshot"
            assert [e["text"] for e in data["timeline"]][-10:] == [f"note {i}" for i in range(10)]


async def test_a_host_that_is_not_the_loopback_is_refused(
    console_sim: Simulator, http: aiohttp.ClientSession
) -> None:
    # A page of another site whose name was rebound to 127.0.0.1 sends its own Host.
    for path in ("/console/api/stream", "/console/api/conversations/x/export.json"):
        async with http.get(
            console_sim.base_url + path, headers={"Host": "attacker.example:8080"}
        ) as response:
            assert response.status == 403, path
    async with http.get(
        console_sim.base_url + "/console/api/stream", headers={"Host": "localhost"}
    ) as response:
        assert response.status == 200


async def test_with_an_admin_token_the_data_needs_it(http: aiohttp.ClientSession) -> None:
    async with Simulator(console=True, admin_token=TOKEN, heartbeat_interval=None) as sim:
        session = await start_guest(sim)
        async with session:
            cid = session.conversation_id
            base = f"{sim.base_url}/console"
            async with http.get(base) as response:
                assert response.status == 200  # the page holds no data
            for path in (
                "/api/stream",
                f"/api/conversations/{cid}/export.json",
                f"/api/conversations/{cid}/transcript.txt",
            ):
                async with http.get(base + path) as response:
                    assert response.status == 401, path
                    assert TOKEN not in await response.text()
                bad = {"Authorization": "Bearer wrong"}
                async with http.get(base + path, headers=bad) as response:
                    assert response.status == 401, path
            fault = f"{base}/api/conversations/{cid}/faults"
            async with http.post(fault, json={"fault": "drop"}) as response:
                assert response.status == 401
            assert sim.conversations[cid].socket_count == 1
            good = {"Authorization": f"Bearer {TOKEN}"}
            async with http.get(base + "/api/stream", headers=good) as response:
                assert response.status == 200
                assert (await read_event(response))[0] == "snapshot"


async def test_fault_buttons_are_checked_then_logged_then_done(
    console_sim: Simulator, http: aiohttp.ClientSession
) -> None:
    session = await start_guest(console_sim)
    async with session:
        cid = session.conversation_id
        url = f"{console_sim.base_url}/console/api/conversations/{cid}/faults"
        async with http.post(url, data='{"fault": "drop"}') as response:
            assert response.status == 415  # a cross-site form cannot send JSON
        headers = {"Origin": "http://attacker.example"}
        async with http.post(url, json={"fault": "drop"}, headers=headers) as response:
            assert response.status == 403
        async with http.post(url, json={"fault": "rm -rf"}) as response:
            assert response.status == 400
            assert "drop" in (await response.json())["message"]
        async with http.post(url, json=["drop"]) as response:
            assert response.status == 400
        gone = f"{console_sim.base_url}/console/api/conversations/nope/faults"
        async with http.post(gone, json={"fault": "drop"}) as response:
            assert response.status == 404
        assert console_sim.conversations[cid].socket_count == 1  # nothing done so far
        same = {"Origin": console_sim.base_url}
        async with http.post(url, json={"fault": "rate_limit"}, headers=same) as response:
            assert response.status == 200
            assert await response.json() == {"fault": "rate_limit", "result": "armed"}
        assert console_sim.faults.pending()["rate_limit"] == 2
        timeline = console_sim._console.feed.timeline(cid)  # type: ignore[union-attr]
        assert timeline[-1]["kind"] == "fault" and timeline[-1]["who"] == "console"
        assert timeline[-1]["text"] == "fault: 429 on the next 2 API calls (Retry-After 1 s)"


async def test_exports_the_record_as_json_and_a_transcript(
    console_sim: Simulator, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await start_guest(console_sim)
    async with session:
        cid = session.conversation_id
        await session.send_message("line one\nline two")
        await console_sim.agent_say(cid, "ok")
        base = f"{console_sim.base_url}/console/api/conversations/{cid}"
        async with http.get(base + "/export.json") as response:
            assert response.status == 200
            assert f'filename="conversation-{cid}.json"' in response.headers["Content-Disposition"]
            record = await response.json()
        assert record["id"] == cid and record["protocol"] == "webchat"
        assert record["truncated"] is False
        assert record["messageCount"] == len(console_sim.conversations[cid].messages)
        bodies = [m.get("body") for m in record["messages"]]
        assert "line one\nline two" in bodies and "ok" in bodies
        assert "jwt" not in str(record).lower()
        async with http.get(base + "/transcript.txt") as response:
            assert response.content_type == "text/plain"
            text = await response.text()
        assert re.search(r"^\[\d\d:\d\d:\d\d\] Ann: line one\n    line two$", text, re.M)
        assert re.search(r"^\[\d\d:\d\d:\d\d\] \* Sam joined$", text, re.M)
        monkeypatch.setattr(_console_feed, "MAX_EXPORT_MESSAGES", 2)
        async with http.get(base + "/export.json") as response:
            record = await response.json()
        assert record["truncated"] is True and [m["body"] for m in record["messages"]] == [
            "You said: line one\nline two",
            "ok",
        ]


async def test_pages_at_once_are_bounded(
    console_sim: Simulator, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_console, "MAX_PAGES", 1)
    url = console_sim.base_url + "/console/api/stream"
    async with http.get(url) as first:
        assert first.status == 200
        await read_event(first)
        async with http.get(url) as second:
            assert second.status == 503
    async with http.get(url + "?conversation=nope") as response:
        assert response.status == 404


async def test_stopping_the_simulator_ends_open_streams(http: aiohttp.ClientSession) -> None:
    sim = Simulator(console=True, heartbeat_interval=None)
    await sim.start()
    try:
        async with http.get(sim.base_url + "/console/api/stream") as stream:
            await read_event(stream)
            await asyncio.wait_for(sim.stop(), 5)
            with pytest.raises((EOFError, aiohttp.ClientPayloadError, asyncio.IncompleteReadError)):
                await read_event(stream)
    finally:
        await sim.stop()
