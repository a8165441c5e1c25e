"""A burst read in one go is not a slow consumer: the reader lets a waiting consumer take
what it has queued before the inbox fills, so no backfill (no page request) is made.

The stream here is an in-memory stand-in for a socket read that already holds hundreds of
frames (what one read of a burst gives): each ``receive`` returns without suspending.
"""

from __future__ import annotations

import asyncio
import datetime
from collections import deque
from typing import Any

import attrs

from webchat_async._backoff import Backoff
from webchat_async._events import Event, MessageReceived
from webchat_async._feed import Feed
from webchat_async._inbound import Inbound
from webchat_async.models import WebChatMessage

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


class _ReadStream:
    """Frames already read from the socket; then nothing more comes."""

    def __init__(self, events: list[Event]) -> None:
        self._events = deque(events)
        self._never = asyncio.Event()

    async def receive(self) -> Event:
        if self._events:
            return self._events.popleft()
        await self._never.wait()
        raise AssertionError("unreachable")


@attrs.define
class _Page:
    entities: list[WebChatMessage]
    next: str | None = None


class _Api:
    """The two reads a live session makes: pages of messages (counted), members (none)."""

    def __init__(self) -> None:
        self.pages = 0

    async def get_webchat_guest_conversation_messages(self, *args: Any, **kwargs: Any) -> _Page:
        self.pages += 1
        return _Page([])

    def iter_webchat_guest_conversation_members(self, *args: Any) -> Any:
        async def none() -> Any:
            for member in ():
                yield member

        return none()


def _messages(count: int, *, one_timestamp: bool) -> list[Event]:
    return [
        MessageReceived(
            WebChatMessage(
                id=f"m{i:06d}",
                body=str(i),
                timestamp=EPOCH + datetime.timedelta(milliseconds=0 if one_timestamp else i),
            )
        )
        for i in range(count)
    ]


async def _consume(count: int, *, one_timestamp: bool) -> tuple[list[str], int, Inbound]:
    api = _Api()
    core = Inbound(member_id="guest", capacity=256)
    stream = _ReadStream(_messages(count, one_timestamp=one_timestamp))
    feed = Feed(
        api,  # type: ignore[arg-type]
        stream,  # type: ignore[arg-type]
        core,
        conversation_id="c",
        backoff=Backoff(),
        retry_window=60.0,
    )
    reader = asyncio.get_running_loop().create_task(feed.run())
    got: list[str] = []
    try:
        while len(got) < count:
            event = await feed.next_event()
            if isinstance(event, MessageReceived):
                got.append(event.message.id or "")
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return got, api.pages, core


async def test_a_burst_read_in_one_go_costs_no_backfill() -> None:
    got, pages, _ = await _consume(3_000, one_timestamp=False)
    assert got == [f"m{i:06d}" for i in range(3_000)]
    assert pages == 1  # the first backfill only: the consumer was never behind


async def test_a_burst_at_one_timestamp_keeps_a_bounded_position() -> None:
    got, pages, core = await _consume(3_000, one_timestamp=True)
    assert got == [f"m{i:06d}" for i in range(3_000)]
    assert pages == 1
    position = core.position
    assert position.cursor == "m002999"
    assert len(position.ids) <= 1024  # max(window, REWIND), not 3,000
