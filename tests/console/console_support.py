"""Helpers of the console's browser tests (a module of its own: test modules import it by
name, and every test directory has a ``conftest``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Page


class PageProblems:
    """What a page reported that a test must not see: script errors, console errors
    (a Content-Security-Policy violation is one), dialogs (an injected ``alert``)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    async def _dialog(self, dialog: Any) -> None:
        self.errors.append(f"dialog: {dialog.message}")
        await dialog.dismiss()
