"""The console in a real browser (headless Chromium, Playwright): the five cases of issue
26, and the screenshot of docs/console.md.

Each test drives a real guest session from Python against the simulator the page watches;
the page's own requests go only to that simulator (conftest.py aborts any other).
Playwright's ``expect`` waits for a condition (up to its timeout); nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from console_support import PageProblems

pytest.importorskip("aiohttp")

from webchat_async import (
    Backoff,
    Event,
    GuestMemberInfo,
    GuestSession,
    MessageReceived,
    StreamDisconnected,
    StreamReconnected,
)
from webchat_async.messaging import MessagingSession
from webchat_async.simulator import Simulator

try:
    from playwright.async_api import Page, expect
except ImportError:
    # CI sets WEBCHAT_REQUIRE_BROWSER=1: there a missing Playwright fails the run.
    if os.environ.get("WEBCHAT_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("Playwright for Python is not installed", allow_module_level=True)

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "console.png"
ORIGIN = "https://localhost"


@contextlib.asynccontextmanager
async def guest(sim: Simulator, name: str = "Ann") -> AsyncIterator[GuestSession]:
    async with GuestSession.start(
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=GuestMemberInfo(display_name=name),
        base_url=sim.base_url,
        backoff=Backoff.none(),
        proxy=None,
    ) as session:
        await sim.wait_routed(session.conversation_id)
        yield session


async def next_event(events: AsyncIterator[Event], kind: type[Event], text: str = "") -> Event:
    """The next event of ``kind`` (a message: with ``text``), within 10 s."""

    async def find() -> Event:
        async for event in events:
            if isinstance(event, kind) and (
                not text or (isinstance(event, MessageReceived) and event.text == text)
            ):
                return event
        raise AssertionError(f"the events ended before a {kind.__name__}")

    return await asyncio.wait_for(find(), 10)


async def open_conversation(page: Page, conversation_id: str) -> None:
    row = page.locator(f'#conversations tr[data-id="{conversation_id}"]')
    await row.click()
    await expect(page.locator("#view-title")).to_contain_text(conversation_id)
    await expect(page.locator("#status")).to_have_text("live")


async def test_a_guest_session_started_from_python_appears_in_the_list(
    console_page: tuple[Page, PageProblems], console_sim: Simulator
) -> None:
    page, problems = console_page
    await expect(page.locator("#empty")).to_be_visible()
    async with guest(console_sim, "Ann") as session:
        row = page.locator(f'#conversations tr[data-id="{session.conversation_id}"]')
        await expect(row).to_be_visible()
        await expect(row.locator("td").nth(0)).to_have_text("Ann")
        await expect(row.locator("td").nth(1)).to_have_text("Web Chat v2")
        await expect(row.locator("td").nth(2)).to_have_text("active")
        await expect(row.locator("td").nth(3)).to_contain_text("Sam (agent, connected)")
        # A Web Messaging conversation is listed too.
        async with MessagingSession.start(
            deployment_id=console_sim.deployment_id,
            base_url=console_sim.base_url,
            origin=ORIGIN,
            proxy=None,
        ) as messaging:
            await messaging.send_message("Hello over Web Messaging")
            wm_id = console_sim.messaging_conversation_id(messaging.token)
            wm_row = page.locator(f'#conversations tr[data-id="{wm_id}"]')
            await expect(wm_row.locator("td").nth(1)).to_have_text("Web Messaging")
            await open_conversation(page, wm_id)
            await expect(page.locator("#timeline li.who-guest .text")).to_have_text(
                ["Hello over Web Messaging"]
            )
            await expect(page.locator("#media")).to_be_disabled()
    assert problems.errors == []


async def test_its_messages_appear_live(
    console_page: tuple[Page, PageProblems], console_sim: Simulator
) -> None:
    page, problems = console_page
    async with guest(console_sim) as session:
        await open_conversation(page, session.conversation_id)
        messages = page.locator("#timeline li.kind-message .text")
        await expect(messages).to_have_text(["Hello, I'm Sam. How can I help you today?"])
        await session.send_message("Where is my order 1042?")
        await expect(messages).to_have_text(
            [
                "Hello, I'm Sam. How can I help you today?",
                "Where is my order 1042?",
                "You said: Where is my order 1042?",
            ]
        )
        await expect(page.locator("#timeline li.who-guest .name")).to_have_text(["Ann"])
        await expect(page.locator("#timeline li.kind-typing")).to_have_count(1)
    assert problems.errors == []


async def test_an_agent_reply_typed_in_the_page_reaches_the_sessions_events(
    console_page: tuple[Page, PageProblems], console_sim: Simulator
) -> None:
    page, problems = console_page
    async with guest(console_sim) as session:
        events = session.events()
        await open_conversation(page, session.conversation_id)
        await page.locator("#reply").fill("Your order ships today.")
        await page.locator("#send").click()
        event = await next_event(events, MessageReceived, "Your order ships today.")
        assert isinstance(event, MessageReceived) and not event.from_guest
        await expect(page.locator("#reply")).to_have_value("")
        await expect(page.locator("#timeline li.who-agent .text").last).to_have_text(
            "Your order ships today."
        )
        # The other agent buttons reach the guest too.
        await page.locator("#media").click()
        await expect(page.locator("#timeline li.kind-media")).to_have_count(1)
        await page.locator("#end").click()
        await expect(page.locator("#send")).to_be_disabled()
        assert console_sim.conversations[session.conversation_id].ended
    assert problems.errors == []


async def test_a_fault_button_causes_a_disconnect_and_reconnect_pair(
    console_page: tuple[Page, PageProblems], console_sim: Simulator
) -> None:
    page, problems = console_page
    async with guest(console_sim) as session:
        events = session.events()
        await open_conversation(page, session.conversation_id)
        await page.locator('#faults button[data-fault="drop"]').click()
        disconnected = await next_event(events, StreamDisconnected)
        reconnected = await next_event(events, StreamReconnected)
        assert isinstance(disconnected, StreamDisconnected)
        assert isinstance(reconnected, StreamReconnected)
        sockets = page.locator("#timeline li.kind-socket .text")
        await expect(page.locator("#timeline li.kind-fault .text")).to_have_text(
            ["fault: drop the stream (abort its sockets, no close frame)"]
        )
        await expect(sockets).to_have_text(
            ["stream connected; 1 open", "stream closed; 0 open", "stream reconnected (#2); 1 open"]
        )
        # The fault is on the timeline before what it caused.
        kinds = await page.locator("#timeline li").evaluate_all(
            "items => items.map(li => li.dataset.kind)"
        )
        assert kinds.index("fault") < len(kinds) - 1 - kinds[::-1].index("socket")
    assert problems.errors == []


async def test_a_message_with_html_in_it_is_shown_as_text(
    console_page: tuple[Page, PageProblems], console_sim: Simulator
) -> None:
    page, problems = console_page
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    async with guest(console_sim, name="<i>Eve</i>") as session:
        await open_conversation(page, session.conversation_id)
        await session.send_message(hostile)
        guest_text = page.locator("#timeline li.who-guest .text")
        await expect(guest_text).to_have_text([hostile])
        await expect(page.locator("#timeline li.who-agent .text").last).to_have_text(
            f"You said: {hostile}"
        )
        row = page.locator(f'#conversations tr[data-id="{session.conversation_id}"]')
        await expect(row.locator("td").nth(0)).to_have_text("<i>Eve</i>")
        await expect(page.locator("#view-title")).to_contain_text("<i>Eve</i>")
        # Shown, never parsed: no element came out of the texts, no script ran.
        assert await page.locator("main img, main script, main b, main i").count() == 0
        assert await page.evaluate("window.pwned") is None
    assert problems.errors == []


async def test_the_screenshot_of_the_docs(
    console_page: tuple[Page, PageProblems], console_sim: Simulator, tmp_path: Path
) -> None:
    """docs/images/console.png, from a chat like the demo's (written there when
    ``WEBCHAT_UPDATE_SCREENSHOT=1``; elsewhere into the test's own directory)."""
    page, problems = console_page
    async with guest(console_sim, "Ann") as other:
        await other.send_message("Just browsing, thanks.")
    async with guest(console_sim, "Ann") as session:
        events = session.events()
        await open_conversation(page, session.conversation_id)
        await session.send_message("Hi! Where is my order 1042?")
        await next_event(events, MessageReceived, "You said: Hi! Where is my order 1042?")
        await page.locator("#reply").fill("Order 1042 shipped yesterday; it arrives on Friday.")
        await page.locator("#send").click()
        await next_event(
            events, MessageReceived, "Order 1042 shipped yesterday; it arrives on Friday."
        )
        await page.locator("#media").click()
        await page.locator('#faults button[data-fault="drop"]').click()
        await next_event(events, StreamReconnected)
        await session.send_message("Thanks! <b>Bye</b>")
        await expect(page.locator("#timeline li.who-agent .text").last).to_have_text(
            "You said: Thanks! <b>Bye</b>"
        )
        await page.locator("#reply").fill("You're welcome!")
        update = os.environ.get("WEBCHAT_UPDATE_SCREENSHOT") == "1"
        target = SCREENSHOT if update else tmp_path / "console.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(target))
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    # 1280 x 800, as the viewport.
    assert int.from_bytes(data[16:20], "big") == 1280 and int.from_bytes(data[20:24], "big") == 800
    assert problems.errors == []
