"""The inbound side of a session: one task that turns the stream into a queue of events.

:class:`Feed` is what :class:`~webchat_async.session.GuestSession` runs as its only
background task (:meth:`Feed.run`). It reads the event stream, backfills through the
messages endpoint after every attach (see :mod:`webchat_async._ordering`), completes the
events that need a REST call (the member behind a member change, the media request behind
a ``media-request`` message) and puts them in an inbox that :meth:`Feed.next_event`
drains.

The socket is read all the time, whatever the consumer does: a reader that stopped while
the consumer was away would stop answering keepalives, and the service removes a guest
whose socket stays dead for about two minutes. So the inbox is bounded another way. When
it holds ``queue_size`` events:

* a message frame is not queued; it opens a *gap*. While the gap is open, message frames
  and member, media and stream events are *held* aside in arrival order (messages up to
  ``hold_limit``; past it they are left to the messages endpoint alone). When the consumer
  has drained half the inbox, the reader pages the messages endpoint after the last
  message delivered and delivers them in server order, releasing each held event at its
  place among them; when it has caught up, the gap closes.
* if the conversation ends while a gap is open (the endpoint then refuses), everything held
  is released, and the frames still on their way are read and delivered live, before
  :class:`ConversationEnded`: the held frames are the messages.
* member and stream events keep their place among the messages that arrived live; a
  message that never arrived live (missed while detached, recovered from the endpoint) may
  land before or after a stream event held near it.
* typing indicators and unknown frames are dropped while the inbox is full or a gap is
  open (they are momentary).

So messages are never lost while the conversation lives, nor at its end unless more than
``hold_limit`` of them arrived while the consumer was behind (a warning says how many).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import attrs

from ._aio import cancel_and_wait
from ._backoff import Backoff
from ._events import (
    ConversationEnded,
    Event,
    MediaRequestReceived,
    MemberJoined,
    MemberLeft,
    MemberStateChanged,
    MessageReceived,
    StreamReconnected,
    TypingStarted,
    UnknownEvent,
)
from ._ordering import Sequencer
from .api import WebChatApi
from .errors import (
    ApiConnectionError,
    ApiError,
    BadRequestError,
    HandshakeRefused,
    RateLimitError,
    ServerError,
    StreamError,
)
from .models import BodyType, MediaRequestState, MemberState, WebChatMemberInfo, WebChatMessage

if TYPE_CHECKING:
    from .stream import EventStream

__all__ = ["ENDED_CODE", "Feed"]

logger = logging.getLogger("webchat_async.session")

#: PROTOCOL 5: calls on a conversation that has ended for the guest answer 400 with this code.
ENDED_CODE = "chat.error.conversation.state"

# After the messages endpoint has said the conversation ended, the frames already on their
# way (the last messages, the guest's DISCONNECTED) are read for this long at most
# **[choice: the service closes the socket right after; this bounds a server that does not]**.
_CLOSING_GRACE = 5.0

# A backfill that fails this way is worth another try: the service is busy or unreachable,
# not refusing.
_TRANSIENT = (ApiConnectionError, RateLimitError, ServerError)


class _End:
    """Wakes consumers when the reader has finished."""


_END: Any = _End()


class Feed:
    """Reads one conversation's stream into a bounded inbox of typed events.

    Args:
        backoff: the schedule between attempts of a backfill that failed transiently (the
            stream's reconnection schedule).
        retry_window: seconds a backfill may keep failing before the session stops with
            :class:`~webchat_async.errors.StreamError` (the service's reconnect window).
        hold_limit: message frames held aside while a gap is open (module docstring).

    Attributes:
        ended: the conversation has ended for the guest (:class:`ConversationEnded` queued).
        finished: the reader is done (ended, failed or stopped); nothing more will come.
        failure: the error that stopped the reader, if one did.
    """

    def __init__(
        self,
        api: WebChatApi,
        stream: EventStream,
        sequencer: Sequencer,
        *,
        conversation_id: str,
        member_id: str,
        queue_size: int,
        backoff: Backoff,
        retry_window: float,
        hold_limit: int = 1024,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._api = api
        self._stream = stream
        self._sequencer = sequencer
        self._conversation_id = conversation_id
        self._member_id = member_id
        self._capacity = queue_size
        self._backoff = backoff
        self._retry_window = retry_window
        # Unbounded as a container; the bound is enforced by _put (see the module docstring).
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._gap = False
        # While a gap is open: the events that arrived, in order (module docstring).
        self._held: deque[Event] = deque()
        self._held_ids: set[str] = set()
        self._hold_limit = hold_limit
        self._unheld = 0  # message frames not held (past the limit): endpoint only
        # Set once the endpoint has refused an ended conversation: read until then, live.
        self._closing_by: float | None = None
        # A backfill that failed transiently: when to try again, and since when it fails.
        self._retry_at: float | None = None
        self._failing_since: float | None = None
        self._failures = 0
        self._recovered = 0  # messages delivered by the current backfill
        # While a gap is open: a pending receive, and the future that says there is room.
        self._receiving: asyncio.Task[Event] | None = None
        self._room: asyncio.Future[None] | None = None
        self._media_seen: set[str] = set()
        # Members as last fetched, for when a fetch fails (one entry per member).
        self._members: dict[str, WebChatMemberInfo] = {}
        self.ended = False
        self.finished = False
        self.failure: BaseException | None = None
        self._failure_seen = False

    # -- the consumer side ---------------------------------------------------------------

    async def next_event(self) -> Event:
        """The next event; ``StopAsyncIteration`` at the end, or the reader's failure.

        Cancelling it takes nothing out of the inbox (``Queue.get`` is cancellation-safe).
        """
        inbox = self._inbox
        while True:
            if inbox.empty():
                if self.finished:
                    self._raise_end()
                item = await inbox.get()
            else:
                item = inbox.get_nowait()
            if item is _END:
                # Leave it for any other consumer waiting now.
                inbox.put_nowait(_END)
                self._raise_end()
            room = self._room
            if room is not None and not room.done() and inbox.qsize() <= self._capacity // 2:
                room.set_result(None)
            return item  # type: ignore[no-any-return]

    def _raise_end(self) -> None:
        if self.failure is not None:
            self._failure_seen = True
            raise self.failure
        raise StopAsyncIteration

    def close(self) -> BaseException | None:
        """Mark the feed finished (the reader was stopped), wake consumers, and return the
        reader's failure if no consumer has received it yet."""
        self.finished = True
        self._inbox.put_nowait(_END)  # wakes consumers blocked on an empty inbox
        if self.failure is not None and not self._failure_seen:
            self._failure_seen = True
            return self.failure
        return None

    # -- the reader task -----------------------------------------------------------------

    def _full(self) -> bool:
        return self._inbox.qsize() >= self._capacity

    def _put(self, event: Event) -> None:
        """Queue an event that is not a message frame (those go through _dispatch)."""
        if isinstance(event, (TypingStarted, UnknownEvent)):
            if self._gap or self._full():
                logger.debug("consumer behind: dropped a %s", type(event).__name__)
                return
        elif self._gap and not isinstance(event, MessageReceived):
            self._held.append(event)  # released at its place among the messages
            return
        self._inbox.put_nowait(event)

    def _hold(self, event: MessageReceived) -> None:
        message_id = event.message.id
        if message_id and message_id in self._held_ids:
            return  # a duplicate frame
        if message_id and len(self._held_ids) < self._hold_limit:
            self._held.append(event)
            self._held_ids.add(message_id)
        else:
            self._unheld += 1

    async def _release(self, until: str | None = None) -> None:
        """Release held events in order: all of them, or those before the held copy of
        message ``until`` (which is dropped: the caller delivers that message itself)."""
        if until is not None and until not in self._held_ids:
            return
        held = self._held
        while held:
            event = held.popleft()
            if isinstance(event, MessageReceived):
                self._held_ids.discard(event.message.id or "")
                if until is not None and event.message.id == until:
                    return
                if self._sequencer.accept(event.message):
                    await self._deliver(event.message, event)
            else:
                self._inbox.put_nowait(event)

    async def run(self) -> None:
        """Read until the conversation ends, the stream fails for good, or cancellation."""
        try:
            await self._backfill_or_end()
            loop = asyncio.get_running_loop()
            while not self.ended:
                # A failed backfill is retried once _receive's timer has cleared _retry_at:
                # so the socket is read between attempts, even with a zero delay.
                if self._gap and not self._full() and self._retry_at is None:
                    await self._backfill_or_end()
                    continue
                try:
                    if self._closing_by is None:
                        event = await self._receive()
                    else:
                        remaining = self._closing_by - loop.time()
                        event = await asyncio.wait_for(self._receive(), max(remaining, 0.0))
                except asyncio.TimeoutError:
                    await self._end("the conversation has ended")
                    break
                except HandshakeRefused as exc:
                    if exc.status != 400:
                        raise
                    # 400 chat.error.conversation.state: it ended while we were away.
                    await self._end("the conversation ended while the stream was detached")
                    break
                if event is not None:
                    await self._dispatch(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.info("session %s: event stream failed: %r", self._conversation_id, exc)
            self.failure = exc
        finally:
            receiving, self._receiving = self._receiving, None
            if receiving is not None:
                await cancel_and_wait(receiving)
        self.finished = True
        self._inbox.put_nowait(_END)  # wake waiting consumers

    async def _receive(self) -> Event | None:
        """The next stream event, or ``None`` when the gap can be worked on: the consumer
        made room, or a failed backfill is due for another try."""
        if not self._gap and self._receiving is None:
            return await self._stream.receive()
        # The receive goes on in a task of its own, kept across calls: a receive is never
        # cancelled halfway (it may be reconnecting).
        if self._receiving is None:
            self._receiving = asyncio.ensure_future(self._stream.receive())
        if self._gap:
            loop = asyncio.get_running_loop()
            self._room = room = loop.create_future()
            timer = None
            if self._retry_at is not None:
                timer = loop.call_at(self._retry_at, self._retry_due, room)
            try:
                await asyncio.wait({self._receiving, room}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._room = None
                room.cancel()
                if timer is not None:
                    timer.cancel()
            if not self._receiving.done():
                return None
        receiving, self._receiving = self._receiving, None
        return await receiving

    def _retry_due(self, room: asyncio.Future[None]) -> None:
        self._retry_at = None
        if not room.done():
            room.set_result(None)

    async def _dispatch(self, event: Event) -> None:
        if isinstance(event, MessageReceived):
            if self._closing_by is None and (self._gap or self._full()):
                # Not marked seen: the backfill that closes the gap delivers it, in order.
                self._gap = True
                self._hold(event)
            elif self._sequencer.accept(event.message):
                await self._deliver(event.message, event)
        elif isinstance(event, StreamReconnected):
            recovered = await self._backfill_or_end()
            if not self.ended:
                self._put(StreamReconnected(recovered, event.attempts, event.downtime))
        elif isinstance(event, MemberStateChanged):
            await self._member_change(event)
        elif isinstance(event, MediaRequestReceived):
            request_id = event.request.id
            if request_id and request_id not in self._media_seen:
                self._media_seen.add(request_id)
                self._put(event)
        else:
            self._put(event)

    async def _deliver(self, message: WebChatMessage, event: Event | None = None) -> None:
        self._put(event if event is not None else MessageReceived(message))
        if message.body_type == BodyType.MEDIA_REQUEST:
            await self._new_media_requests()

    async def _backfill_or_end(self) -> int:
        """One backfill; return how many messages it delivered.

        A transient failure (connection, 429, 5xx) leaves the gap open with a retry time on
        the stream's backoff schedule: the loop goes on reading the socket (holding what
        arrives) and tries again when due, for up to ``retry_window`` seconds, after which
        the session stops with :class:`~webchat_async.errors.StreamError`.
        """
        loop = asyncio.get_running_loop()
        self._recovered = 0
        try:
            await self._backfill()
        except BadRequestError as exc:
            if exc.code != ENDED_CODE:
                raise
            # The conversation has ended: no backfill will work again. Release what is
            # held, then read what is still on its way, live (_CLOSING_GRACE).
            self._gap = False
            await self._release()
            if self._closing_by is None:
                self._closing_by = loop.time() + _CLOSING_GRACE
        except _TRANSIENT as exc:
            now = loop.time()
            if self._failing_since is None:
                self._failing_since = now
            if now - self._failing_since >= self._retry_window:
                raise StreamError(
                    f"could not read the missed messages for {self._retry_window:g} s"
                ) from exc
            self._failures += 1
            # Attempt 1 of the schedule is immediate; a failed backfill waits from 2 on.
            self._retry_at = now + self._backoff.delay(self._failures + 1)
            self._gap = True
            logger.warning("backfill failed (%r); retrying", exc)
        else:
            self._retry_at = self._failing_since = None
            self._failures = 0
        return self._recovered

    async def _backfill(self) -> None:
        """Deliver the messages stored after the last ones delivered (counted in
        ``_recovered``); stops early, leaving the gap open, when the inbox fills up."""
        while True:
            cursor = self._sequencer.backfill_cursor()
            pages = self._api.iter_webchat_guest_conversation_messages(
                self._conversation_id, after=cursor, sort_order="ascending"
            )
            try:
                async with contextlib.aclosing(pages):  # type: ignore[type-var]
                    async for message in pages:
                        if self._full():
                            self._gap = True
                            return
                        if message.id:
                            await self._release(until=message.id)
                        if self._sequencer.accept(message):
                            self._recovered += 1
                            await self._deliver(message)
                # Caught up: what is still held arrived after the last stored message.
                self._gap = False
                await self._release()
                return
            except BadRequestError as exc:
                if cursor is None or exc.code == ENDED_CODE:
                    raise
                # The service does not know this id (a frame carried a bogus one): try the
                # next cursor (see Sequencer.forget_cursor).
                logger.warning("backfill cursor refused (%s); trying another", exc.code)
                self._sequencer.forget_cursor(cursor)

    async def _new_media_requests(self) -> None:
        try:
            requests = await self._api.get_webchat_guest_conversation_mediarequests(
                self._conversation_id
            )
        except (ApiError, ApiConnectionError) as exc:
            logger.warning("could not read the media requests: %r", exc)
            return
        for request in requests.entities or ():
            if (
                request.id
                and request.state == MediaRequestState.PENDING
                and request.id not in self._media_seen
            ):
                self._media_seen.add(request.id)
                # Right after the message that announced it (never held: that message is
                # being delivered now).
                self._inbox.put_nowait(MediaRequestReceived(request))

    async def _member_change(self, event: MemberStateChanged) -> None:
        if event.member_id == self._member_id and event.state == MemberState.DISCONNECTED:
            await self._end("the guest is disconnected")
            return
        member = self._members.get(event.member_id, event.member)
        try:
            member = await self._api.get_webchat_guest_conversation_member(
                self._conversation_id, event.member_id
            )
        except (ApiError, ApiConnectionError) as exc:
            # Typically the chat has just ended (400): the member as last known will do.
            logger.debug("could not fetch member %s: %r", event.member_id, exc)
        # The frame's state is the news; the fetched member may lag behind it.
        member = attrs.evolve(member, state=event.state or member.state)
        self._members[event.member_id] = member
        kind: type[MemberStateChanged] = MemberStateChanged
        if event.state == MemberState.CONNECTED:
            kind = MemberJoined
        elif event.state == MemberState.DISCONNECTED:
            kind = MemberLeft
        self._put(
            kind(event.member_id, event.state, member, event.conversation_id, event.timestamp)
        )

    async def _end(self, reason: str) -> None:
        # The messages endpoint refuses an ended conversation: what is held is all there is.
        self._gap = False
        await self._release()
        if self._unheld:
            logger.warning(
                "session %s ended while %d messages were past the hold limit; they are lost",
                self._conversation_id,
                self._unheld,
            )
        self.ended = True
        self._inbox.put_nowait(ConversationEnded(reason))
