"""Fixtures of the console tests: a simulator serving its console, and a headless Chromium
driven by Playwright for Python.

The browser is the system's ``chromium`` (Debian's package; Playwright's own download needs
the internet), found as ``WEBCHAT_CHROMIUM`` or on ``PATH``. Without it, or without
Playwright, the browser tests skip, unless ``WEBCHAT_REQUIRE_BROWSER=1`` (CI sets it) makes
that a failure. The browser gets a fresh profile per test, and any request it makes to a
host other than the loopback is aborted: nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

pytest.importorskip("aiohttp")

from console_support import PageProblems

from webchat_async.simulator import Simulator
from webchat_async.simulator._admin import is_loopback

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

#: What the browser runs with: no sandbox (root in CI), no GPU, nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium to drive: ``WEBCHAT_CHROMIUM``, else ``chromium`` on ``PATH``."""
    given = os.environ.get("WEBCHAT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _unavailable(reason: str) -> None:
    if os.environ.get("WEBCHAT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"WEBCHAT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
async def console_sim() -> AsyncIterator[Simulator]:
    """A simulator serving its console (heartbeats off); stopped after the test."""
    async with Simulator(console=True, heartbeat_interval=None) as sim:
        yield sim


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A headless Chromium with a fresh profile that reaches only the loopback."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[browser]')")
        raise  # not reached: skip or fail raised
    path = chromium_path()
    if path is None:
        _unavailable("no chromium on PATH (Debian: apt-get install chromium)")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=path,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 800},
        )
        try:
            await context.route(
                lambda url: (
                    not is_loopback(urlsplit(url).hostname or "")
                    and not url.startswith(("blob:", "data:"))
                ),
                lambda route: route.abort(),
            )
            yield context
        finally:
            await context.close()


@pytest.fixture
async def console_page(
    browser: BrowserContext, console_sim: Simulator
) -> AsyncIterator[tuple[Page, PageProblems]]:
    """The console of ``console_sim`` open in the browser, live."""
    from playwright.async_api import expect

    page = await browser.new_page()
    problems = PageProblems(page)
    url = console_sim.console_url
    assert url is not None
    await page.goto(url)
    await expect(page.locator("#status")).to_have_text("live")
    yield page, problems
    await page.close()
