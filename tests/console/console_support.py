"""Helpers of the console's tests (a module of its own: test modules import it by
name, and every test directory has a ``conftest``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webchat_async.worker import ChatStatus, FleetStatus

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


class FakeFleet:
    """A fleet view whose answer the test sets; it can fail on demand."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.given_up: dict[str, str] = {}
        self.failure: Exception | None = None
        self.reads = 0
        self.limits: list[int] = []

    async def status(self, *, chat_limit: int = 1000) -> FleetStatus:
        self.reads += 1
        self.limits.append(chat_limit)
        if self.failure is not None:
            raise self.failure
        chats = tuple(
            ChatStatus(conversation_id=cid, owner=owner, token=1, expires_in=5.0)
            for cid, owner in self.owners.items()
        )
        return FleetStatus(workers=(), chats=chats, given_up=dict(self.given_up))
