"""The inbound side of a session: one task that turns the stream into a queue of events.

:class:`Feed` is what :class:`~webchat_async.session.GuestSession` runs as its only
background task (:meth:`Feed.run`). It reads the event stream, backfills through the
messages endpoint after every attach (see :mod:`webchat_async._ordering`), completes the
events that need a REST call (the member behind a member change, the media request behind
a ``media-request`` message) and puts them in a bounded inbox that :meth:`Feed.next_event`
drains. When the inbox is full the reader waits, which stops it reading the socket:
backpressure, never loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import attrs

from ._events import (
    ConversationEnded,
    Event,
    MediaRequestReceived,
    MemberJoined,
    MemberLeft,
    MemberStateChanged,
    MessageReceived,
    StreamReconnected,
)
from ._ordering import Sequencer
from .api import WebChatApi
from .errors import ApiConnectionError, ApiError, BadRequestError, HandshakeRefused
from .models import BodyType, MediaRequestState, MemberState, WebChatMemberInfo, WebChatMessage

if TYPE_CHECKING:
    from .stream import EventStream

__all__ = ["ENDED_CODE", "Feed"]

logger = logging.getLogger("webchat_async.session")

#: PROTOCOL 5: calls on a conversation that has ended for the guest answer 400 with this code.
ENDED_CODE = "chat.error.conversation.state"


class _End:
    """Wakes consumers when the reader has finished."""


_END: Any = _End()


class Feed:
    """Reads one conversation's stream into a bounded inbox of typed events.

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
    ) -> None:
        self._api = api
        self._stream = stream
        self._sequencer = sequencer
        self._conversation_id = conversation_id
        self._member_id = member_id
        self._inbox: asyncio.Queue[Any] = asyncio.Queue(queue_size)
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
        # Wake consumers blocked on an empty inbox.
        if not self._inbox.full():
            self._inbox.put_nowait(_END)
        if self.failure is not None and not self._failure_seen:
            self._failure_seen = True
            return self.failure
        return None

    # -- the reader task -----------------------------------------------------------------

    async def _emit(self, event: Event) -> None:
        inbox = self._inbox
        if inbox.full():
            await inbox.put(event)  # backpressure: the socket is not read meanwhile
        else:
            inbox.put_nowait(event)

    async def run(self) -> None:
        try:
            await self._backfill_or_end()
            while not self.ended:
                try:
                    event = await self._stream.receive()
                except HandshakeRefused as exc:
                    if exc.status != 400:
                        raise
                    # 400 chat.error.conversation.state: it ended while we were away.
                    await self._end("the conversation ended while the stream was detached")
                    break
                await self._dispatch(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.info("session %s: event stream failed: %r", self._conversation_id, exc)
            self.failure = exc
        self.finished = True
        # Wake waiting consumers. If the inbox is full nobody waits; they see _finished
        # once they have drained it.
        if not self._inbox.full():
            self._inbox.put_nowait(_END)

    async def _dispatch(self, event: Event) -> None:
        if isinstance(event, MessageReceived):
            if self._sequencer.accept(event.message):
                await self._deliver(event.message, event)
        elif isinstance(event, StreamReconnected):
            recovered = await self._backfill_or_end()
            if not self.ended:
                await self._emit(StreamReconnected(recovered, event.attempts, event.downtime))
        elif isinstance(event, MemberStateChanged):
            await self._member_change(event)
        elif isinstance(event, MediaRequestReceived):
            request_id = event.request.id
            if request_id and request_id not in self._media_seen:
                self._media_seen.add(request_id)
                await self._emit(event)
        else:
            await self._emit(event)

    async def _deliver(self, message: WebChatMessage, event: Event | None = None) -> None:
        await self._emit(event if event is not None else MessageReceived(message))
        if message.body_type == BodyType.MEDIA_REQUEST:
            await self._new_media_requests()

    async def _backfill_or_end(self) -> int:
        try:
            return await self._backfill()
        except BadRequestError as exc:
            if exc.code != ENDED_CODE:
                raise
            # The guest left (or was removed) before the backfill ran.
            await self._end("the conversation has ended")
            return 0

    async def _backfill(self) -> int:
        """Deliver the messages stored after the last ones delivered; return how many."""
        count = 0
        while True:
            cursor = self._sequencer.backfill_cursor()
            pages = self._api.iter_webchat_guest_conversation_messages(
                self._conversation_id, after=cursor, sort_order="ascending"
            )
            try:
                async with contextlib.aclosing(pages):  # type: ignore[type-var]
                    async for message in pages:
                        if self._sequencer.accept(message):
                            count += 1
                            await self._deliver(message)
                return count
            except BadRequestError as exc:
                if cursor is None or exc.code == ENDED_CODE:
                    raise
                # The service does not know this id (a frame carried a bogus one): reach
                # back to an older cursor rather than end the session.
                logger.warning("backfill cursor refused (%s); using an older one", exc.code)
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
                await self._emit(MediaRequestReceived(request))

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
        await self._emit(
            kind(event.member_id, event.state, member, event.conversation_id, event.timestamp)
        )

    async def _end(self, reason: str) -> None:
        self.ended = True
        await self._emit(ConversationEnded(reason))
