"""One read of the history after a reconfigure, pure (docs/messaging-protocol.md#history).

Nothing is replayed on a new socket: the core reads the history, newest first, page by
page, until a page reaches back to ``stop`` (a little before the newest message known), or
the last page, or ``max_pages``. A failed page is asked again after the backoff, up to
``attempts`` tries; then the read gives up. :class:`HistoryRead` keeps the pages and says
what to do next; the core merges what it gathered.
"""

from __future__ import annotations

import datetime
import enum

from .._backoff import Backoff
from ._models import StructuredMessage
from ._outputs import FetchHistory, HistoryPage

__all__ = ["HistoryRead", "Step"]


class Step(enum.Enum):
    """What :meth:`HistoryRead.received` leaves to do."""

    IGNORED = "ignored"  # not the page asked for
    NEXT = "next"  # a request is ready (:attr:`HistoryRead.page`)
    WAIT = "wait"  # a failed page is asked again at :attr:`HistoryRead.retry_at`
    DONE = "done"  # caught up: :attr:`HistoryRead.entities` holds the pages
    FAILED = "failed"  # gave up


class HistoryRead:
    """The pages of one history read, and the page asked for."""

    __slots__ = (
        "_attempts",
        "_backoff",
        "_first",
        "_jwt",
        "_max_pages",
        "_retry",
        "_size",
        "_stop",
        "_tries",
        "entities",
        "page",
        "retry_at",
    )

    def __init__(
        self,
        jwt: str,
        *,
        stop: datetime.datetime | None,
        size: int,
        max_pages: int,
        attempts: int,
        backoff: Backoff,
    ) -> None:
        self._jwt = jwt
        self._stop = stop
        self._size = size
        self._max_pages = max_pages
        self._attempts = attempts
        self._backoff = backoff
        self._tries = 0
        self._retry = 1  # the page a retry asks for
        self.entities: list[StructuredMessage] = []
        self._first = FetchHistory(jwt, 1, size)
        self.page: FetchHistory | None = self._first
        self.retry_at: float | None = None

    def first(self) -> FetchHistory:
        """The request of the first page (newest first)."""
        return self._first

    def received(self, request: FetchHistory, page: HistoryPage | None, now: float) -> Step:
        """The answer to ``request`` (``None``: it failed)."""
        if request is not self.page:
            return Step.IGNORED
        self.page = None
        if page is None:
            self._tries += 1
            if self._tries >= self._attempts:
                return Step.FAILED
            self.retry_at = now + self._backoff.delay(self._tries)
            self._retry = request.page_number
            return Step.WAIT
        self._tries = 0
        self._retry = 1  # the page a retry asks for
        self.entities.extend(page.entities)
        times = [m.time for m in page.entities if m.time is not None]
        stop = self._stop
        if (
            page.last(page.page_number)
            or request.page_number >= self._max_pages
            or (stop is not None and times and min(times) <= stop)
        ):
            return Step.DONE
        self.page = FetchHistory(self._jwt, request.page_number + 1, self._size)
        return Step.NEXT

    def retry(self, now: float) -> FetchHistory | None:
        """The failed page again, once :attr:`retry_at` has come."""
        if self.retry_at is None or now < self.retry_at or self.page is not None:
            return None
        self.retry_at = None
        self.page = FetchHistory(self._jwt, self._retry, self._size)
        return self.page
