"""A model server and wire for driving the pure inbound core in tests (not a test module).

The server stores messages in server order with non-decreasing timestamps (ties allowed)
and answers :class:`FetchPage` requests ``after`` an id, with optional faults: a full page
without ``next``, a page repeated once, a page that overlaps the previous one. The wire
carries the frames of the messages stored while a socket is attached, with optional
duplicates and swaps of neighbours; a drop loses what is on it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import attrs

from webchat_async._events import Event, MessageReceived, StreamDisconnected, StreamReconnected
from webchat_async._inbound import (
    PAGE_SIZE,
    FetchMediaRequests,
    FetchMember,
    FetchMembers,
    FetchPage,
    Inbound,
    Request,
)
from webchat_async.models import WebChatMessage

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@attrs.define
class Model:
    core: Inbound
    server: list[WebChatMessage] = attrs.field(factory=list)
    index: dict[str, int] = attrs.field(factory=dict)
    wire: list[WebChatMessage] = attrs.field(factory=list)
    attached: bool = False
    pending: list[Request] = attrs.field(factory=list)
    delivered: list[Event] = attrs.field(factory=list)
    swapped: set[str] = attrs.field(factory=set)
    tick: int = 0
    last_page: list[WebChatMessage] = attrs.field(factory=list)
    drops: int = 0
    max_queued: int = 0
    max_remembered: int = 0
    max_position_ids: int = 0
    # Every message at one timestamp (a burst the service stamps in one millisecond).
    one_timestamp: bool = False
    # How many messages were stored when each page was asked for: the query runs then, so
    # frames read before its answer can belong to messages it does not list.
    asked_at: dict[int, int] = attrs.field(factory=dict)

    # -- the server ---------------------------------------------------------------

    def store(self, count: int, *, same_time: int = 1) -> None:
        """Store ``count`` messages, ``same_time`` of them per timestamp."""
        for i in range(count):
            if i % max(same_time, 1) == 0 and not (self.one_timestamp and self.tick):
                self.tick += 1
            message = WebChatMessage(
                id=f"m{len(self.server):06d}",
                body=str(len(self.server)),
                timestamp=EPOCH + datetime.timedelta(milliseconds=self.tick),
            )
            self.index[message.id or ""] = len(self.server)
            self.server.append(message)
            if self.attached:
                self.wire.append(message)

    def page(
        self, request: FetchPage, *, omit_next: bool, repeat: bool, overlap: int
    ) -> tuple[list[WebChatMessage], str | None]:
        if repeat and self.last_page:
            return self.last_page, None if omit_next else "next"
        stored = self.asked_at.pop(id(request), len(self.server))
        start = 0 if request.after is None else self.index[request.after] + 1
        start = max(0, start - overlap)
        entities = self.server[start : min(start + request.size, stored)]
        more = start + request.size < stored
        self.last_page = entities
        return entities, ("next" if more and not omit_next else None)

    # -- the wire -------------------------------------------------------------------

    def send(self, n: int, *, duplicate: bool = False, swap: bool = False) -> None:
        """Deliver up to ``n`` frames from the wire (the first two swapped, the first one
        twice)."""
        if swap and len(self.wire) >= 2:
            self.wire[0], self.wire[1] = self.wire[1], self.wire[0]
            self.swapped.update(m.id or "" for m in self.wire[:2])
        for _ in range(min(n, len(self.wire))):
            message = self.wire.pop(0)
            self.core.frame(MessageReceived(message))
            if duplicate:
                self.core.frame(MessageReceived(message))
                duplicate = False
            self.observe()

    def drop(self) -> None:
        if not self.attached:
            return
        self.attached = False
        self.wire.clear()
        self.drops += 1
        self.core.detached(StreamDisconnected("test"))
        self.observe()

    def attach(self) -> None:
        if self.attached:
            return
        self.attached = True
        first = self.drops == 0 and not self.delivered and not self.pending
        self.core.attached(None if first else StreamReconnected())
        self.observe()

    # -- requests and the consumer ----------------------------------------------------

    def collect(self) -> None:
        for request in self.core.requests():
            self.asked_at[id(request)] = len(self.server)
            self.pending.append(request)

    def answer(
        self, *, omit_next: bool = False, repeat: bool = False, overlap: int = 0, fail: bool = False
    ) -> bool:
        """Answer the oldest request; return whether there was one."""
        self.collect()
        if not self.pending:
            return False
        request = self.pending.pop(0)
        if isinstance(request, FetchPage):
            if fail:
                self.core.page_failed(request)
            else:
                entities, link = self.page(
                    request, omit_next=omit_next, repeat=repeat, overlap=overlap
                )
                self.core.page_received(request, list(entities), next_link=link)
        elif isinstance(request, FetchMembers):
            self.core.members_received(request, [])
        elif isinstance(request, FetchMember):
            self.core.member_received(request, None)
        else:
            assert isinstance(request, FetchMediaRequests)
            self.core.media_received(request, [])
        self.observe()
        return True

    def take(self, n: int) -> None:
        for _ in range(n):
            event = self.core.take()
            if event is None:
                return
            self.delivered.append(event)
            if isinstance(event, MessageReceived):
                self.max_position_ids = max(self.max_position_ids, len(self.core.position.ids))

    def observe(self) -> None:
        self.max_queued = max(self.max_queued, self.core.queued())
        self.max_remembered = max(self.max_remembered, self.core.remembered())

    def settle(self, limit: int = 10_000_000) -> None:
        """No more faults: attach, read the wire, answer everything, take everything."""
        self.attach()
        steps = 0
        while True:
            steps += 1
            assert steps < limit, "the core does not settle"
            self.send(len(self.wire))
            answered = self.answer()
            self.take(PAGE_SIZE * 4)
            self.collect()
            if not answered and not self.wire and not self.pending and not self.core.ready():
                return

    # -- checks ---------------------------------------------------------------------

    def message_ids(self) -> list[str]:
        return [e.message.id or "" for e in self.delivered if isinstance(e, MessageReceived)]

    def check_exactly_once_in_order(self) -> None:
        ids = self.message_ids()
        assert len(ids) == len(set(ids)), "a message was delivered twice"
        assert sorted(ids) == [m.id for m in self.server], "a message was lost"
        # Server order, except for messages whose frames the wire swapped (delivered late,
        # exactly once).
        straight = [i for i in ids if i not in self.swapped]
        assert straight == sorted(straight), "out of server order"


def ids_of(messages: Iterable[WebChatMessage]) -> list[str]:
    return [m.id or "" for m in messages]
