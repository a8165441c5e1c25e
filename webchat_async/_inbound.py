"""The inbound side of one session as a pure state machine: no I/O, no clock, no asyncio.

:class:`Inbound` takes *inputs* (a decoded stream event, a page of the messages endpoint,
the socket attached or detached, a lookup's answer, the consumer taking an event) and
produces *outputs*: events for the consumer (:meth:`Inbound.take`) and requests for the
driver to carry out (:meth:`Inbound.requests`: a page after a message, a member, the
members, the media requests). :class:`~webchat_async._feed.Feed` is the asyncio driver.

Position, not a window
----------------------
Delivery is guarded by a :class:`Position` in server order: the greatest message timestamp
delivered, the ids delivered *at* that timestamp, and the id the next backfill pages
``after``. A message is delivered when it lies after the position; a message at or before
it is a repeat and is dropped, however old, however many came in between. Ids are opaque:
the order comes from the messages endpoint (``after`` pages are in server order) and, for a
live frame, which carries no sequence number, from its timestamp (the service stamps each
message when it stores it, and pages in that order).

A live frame can arrive *behind* the position without being a repeat: the stream swapped
two frames (m7 before m6). The last ``window`` deliveries are remembered with their
timestamps (the *proof ring*); a message behind the position whose timestamp is above
every timestamp that left the ring, and whose id is not in it, is proven new and is
delivered (late: after m7, exactly once). Anything else behind the position is a repeat.
Each backfill starts a few deliveries back (:data:`REWIND`), so a swapped message whose
frame was lost in a drop is recovered the same way.

Memory is bounded by ``window`` (the ring), ``capacity`` plus one page (the outbox),
``hold_limit`` (frames held while paging) and the ids that share the newest timestamp.

States
------
* ``DETACHED``: no socket.
* ``BACKFILL``: attached, reading the messages endpoint after the position; live message
  frames are held (up to ``hold_limit``) and other events held in place, until a page says
  the endpoint is caught up. The consumer being behind (the outbox full) also opens a
  backfill: messages are then left to the endpoint, paged once the consumer made room.
* ``LIVE``: frames are delivered as they come.
* ``ENDING``: the endpoint refused (the chat is over): held frames are released and frames
  still on their way are delivered until the socket closes or the driver's grace ends.
* ``ENDED``: :class:`ConversationEnded` is queued; no more input is taken.
"""

from __future__ import annotations

import datetime
import enum
import logging
from collections import deque
from typing import Any

import attrs

from ._events import (
    ConversationEnded,
    Event,
    MediaRequestReceived,
    MemberJoined,
    MemberLeft,
    MemberStateChanged,
    MessageReceived,
    StreamDisconnected,
    StreamReconnected,
    TypingStarted,
    UnknownEvent,
)
from ._rules import chat_is_over
from .models import (
    BodyType,
    MediaRequestState,
    MemberState,
    WebChatGuestMediaRequest,
    WebChatMemberInfo,
    WebChatMessage,
)

__all__ = [
    "DEFAULT_WINDOW",
    "MAX_PAGES",
    "PAGE_SIZE",
    "REWIND",
    "FetchMediaRequests",
    "FetchMember",
    "FetchMembers",
    "FetchPage",
    "Inbound",
    "Position",
    "Request",
    "State",
    "Undecodable",
]

logger = logging.getLogger("webchat_async.session")

#: Deliveries remembered with their timestamps (the proof ring), by default.
DEFAULT_WINDOW = 1024

#: How many in-order deliveries a backfill reaches back over (swapped frames lost in a drop).
REWIND = 16

#: Messages asked per page (the endpoint's maximum).
PAGE_SIZE = 100

#: Pages one backfill reads at most before it stops and goes live (a server that never
#: stops paging must not make the reader loop; 100,000 messages at 100 a page fit).
MAX_PAGES = 2000


# Pages in a row without a new message after which a backfill stops.
_STALLS = 3

# An empty id set shared by every session until it needs a set of its own (an empty set
# costs ~216 bytes; most sessions never hold a frame nor see a media request).
_NO_IDS: frozenset[str] = frozenset()

# Cursors kept for the backfill's start: the position's and the last REWIND deliveries.
_CURSORS = REWIND + 1


@attrs.frozen
class Position:
    """Where delivery stands in server order; what :meth:`GuestSession.save` records.

    Attributes:
        cursor: the id of the last message delivered in order: the next backfill pages
            the messages endpoint ``after`` it (``None``: from the conversation's start).
        timestamp: the greatest timestamp delivered (``None``: unknown, e.g. a session saved
            by an older version that kept only the id).
        ids: the ids delivered at ``timestamp`` (messages stamped alike are told apart so).
    """

    cursor: str | None = None
    timestamp: datetime.datetime | None = None
    ids: tuple[str, ...] = ()


class State(enum.Enum):
    """The named states of :class:`Inbound` (see the module docstring)."""

    DETACHED = "detached"
    BACKFILL = "backfill"
    LIVE = "live"
    ENDING = "ending"
    ENDED = "ended"


# What every event reads, looked up once: an Enum class's attribute goes through the
# metaclass's __getattr__ slot (CPython 3.11: ~400 instructions a read, a few per event).
_ENDED = State.ENDED
_LIVE = State.LIVE
_BACKFILL = State.BACKFILL
_MEDIA_REQUEST = BodyType.MEDIA_REQUEST


@attrs.frozen
class FetchPage:
    """Read one page of the messages endpoint, ascending, ``after`` this id.

    ``attempt`` counts the tries of this page (a transient failure asks again, 2, 3, ...).
    """

    after: str | None
    size: int = PAGE_SIZE
    attempt: int = 1


@attrs.frozen
class FetchMember:
    """Read one member (the member-change frame only says its id and state)."""

    member_id: str


@attrs.frozen
class FetchMembers:
    """Read every member (after a reattach: membership changes are not replayed)."""


@attrs.frozen
class FetchMediaRequests:
    """Read the media requests (a ``media-request`` message announced one)."""


Request = FetchPage | FetchMember | FetchMembers | FetchMediaRequests


@attrs.frozen
class Undecodable:
    """An entry of a messages page that does not decode (docs/protocol.md#unknowns:
    reported, skipped)."""

    id: str | None
    raw: str = attrs.field(repr=False)


@attrs.define(eq=False)
class _Pending:
    """A place in the outbox waiting for a lookup's answer; blocks the events behind it."""

    request: Request
    frame: MemberStateChanged | None = None
    events: list[Event] | None = None


class _Reattach:
    """Where, among the held events, the socket was reattached: StreamReconnected goes
    there (after the messages recovered up to that point)."""


_REATTACH = _Reattach()

_Item = Event | _Pending


class Inbound:
    """The inbound state machine of one session (module docstring).

    One per session, thousands per process: slots, and no collection that an idle
    session leaves empty is allocated before it is needed (a deque costs ~760 bytes even
    empty; the lists below are short).

    Args:
        member_id: the guest's own member id (its ``DISCONNECTED`` ends the chat).
        position: where a resumed session's consumer stood (``None`` for a new one).
        capacity: events the outbox holds before messages are left to the endpoint.
        window: deliveries remembered in the proof ring (at least 1; :data:`REWIND` are
            always kept for the backfill's reach-back).
        hold_limit: message frames held while a backfill runs.
    """

    __slots__ = (
        "_capacity",
        "_cursors",
        "_ending_reason",
        "_floor",
        "_floor_ids",
        "_held",
        "_held_ids",
        "_hold_limit",
        "_lost_at_end",
        "_media_seen",
        "_member_id",
        "_members",
        "_members_read",
        "_missed",
        "_next_after",
        "_outbox",
        "_page",
        "_pages",
        "_pos_ids",
        "_pos_ts",
        "_reconnected",
        "_recovered",
        "_requests",
        "_rescan",
        "_ring",
        "_ring_ids",
        "_ring_size",
        "_stale",
        "_stalls",
        "_start",
        "_taken",
        "_taken_cursor",
        "_taken_ids",
        "_taken_ts",
        "_unheld",
        "_unheld_last",
        "state",
    )

    def __init__(
        self,
        *,
        member_id: str,
        position: Position | None = None,
        capacity: int = 256,
        window: int = DEFAULT_WINDOW,
        hold_limit: int = DEFAULT_WINDOW,
    ) -> None:
        if capacity < 1 or window < 1 or hold_limit < 0:
            raise ValueError("capacity and window must be at least 1, hold_limit at least 0")
        self._member_id = member_id
        self._capacity = capacity
        self._hold_limit = hold_limit
        position = position if position is not None else Position()
        self._pos_ts = position.timestamp
        self._pos_ids: set[str] = set(position.ids)
        if position.cursor is not None and position.timestamp is not None:
            self._pos_ids.add(position.cursor)
        # The proof ring: the last deliveries with their timestamps.
        self._ring: deque[tuple[datetime.datetime | None, str]] = deque()
        self._ring_ids: set[str] = set()
        self._ring_size = max(window, REWIND)
        # Everything stamped at or before the floor is taken as delivered: the saved
        # position's timestamp, then the greatest timestamp that left the ring.
        self._floor = position.timestamp
        # What left the ring at the floor.
        self._floor_ids: set[str] | frozenset[str] = _NO_IDS
        if self._pos_ids:
            self._floor_ids = set(self._pos_ids)
        # Pages in a row that brought nothing new (a server repeating itself).
        self._stalls = 0
        # Where backfills may start: the last REWIND in-order deliveries, after the
        # position's cursor (``None``: the conversation's start, for a new session). A
        # list of at most _CURSORS (a deque would cost more than its 17 entries).
        self._cursors: list[str | None] = [position.cursor]
        self._outbox: deque[_Item] = deque()
        # Created by the first hold (a backfill that holds frames), dropped once released.
        self._held: deque[Event | _Pending | _Reattach] | None = None
        self._held_ids: set[str] | frozenset[str] = _NO_IDS
        self._unheld = 0  # message frames not held since the current page was asked for
        # The socket dropped or was reattached after the current page was asked for: it
        # may miss messages stored since, so it cannot be the last page.
        self._stale = False
        self._lost_at_end = 0
        # The latest frame not held: once it is delivered (by a page), so are the others.
        self._unheld_last: WebChatMessage | None = None
        self._requests: list[Request] = []
        self._page: FetchPage | None = None  # the page asked for and not yet answered
        self._pages = 0  # pages read by the current backfill
        self._rescan = False  # the backfill pages from the start (cursors refused)
        self._recovered = 0
        # Reattaches not yet reported, oldest first (one StreamReconnected per drop).
        self._reconnected: list[StreamReconnected] = []
        # Members as last known (fetched, or announced by a frame), one entry per member.
        self._members: dict[str, WebChatMemberInfo] = {}
        self._members_read = False
        self._media_seen: set[str] | frozenset[str] = _NO_IDS
        self._ending_reason: str | None = None
        # A detach since the endpoint was last caught up: messages may exist that never
        # came live (only a page can bring them).
        self._missed = False
        self._next_after: str | None = None
        # Where the consumer stands (what save() records): the guard's rules, applied to
        # the messages taken out of the outbox. Kept in place (a take costs no new
        # Position); the Position is built when asked for and kept until the next take.
        self._taken: Position | None = position
        self._taken_cursor = position.cursor
        self._taken_ts = position.timestamp
        # The ids taken at ``_taken_ts``, oldest first: the position records the last
        # ``_ring_size`` of them (a burst at one timestamp must not grow it).
        self._taken_ids: list[str] = list(position.ids[-self._ring_size :])
        # A resumed position's timestamp and ids, until a rescan from the conversation's
        # start has met one of them (see _before_start).
        self._start: tuple[datetime.datetime, frozenset[str]] | None = None
        if position.timestamp is not None and position.ids:
            self._start = (position.timestamp, frozenset(position.ids))
        self.state = State.DETACHED

    # -- what the driver reads ---------------------------------------------------------

    @property
    def position(self) -> Position:
        """Where the consumer stands: the last message taken with :meth:`take`.

        The same object until the next message is taken (built once, on demand); its
        ``ids`` are the last ``max(window, REWIND)`` taken at its timestamp at most.
        """
        taken = self._taken
        if taken is None:
            ids = self._taken_ids
            if len(ids) > self._ring_size:
                del ids[: -self._ring_size]
            taken = self._taken = Position(self._taken_cursor, self._taken_ts, tuple(ids))
        return taken

    @property
    def ended(self) -> bool:
        """:class:`ConversationEnded` has been queued."""
        return self.state is State.ENDED

    @property
    def closing(self) -> bool:
        """The chat is over for the guest: the socket need not be reattached."""
        return self._ending_reason is not None or self.state in (State.ENDING, State.ENDED)

    def waiting(self) -> bool:
        """Whether an event in the outbox waits for a lookup's answer."""
        return any(isinstance(item, _Pending) for item in self._outbox)

    @property
    def paging(self) -> bool:
        """A page has been asked for and not answered yet."""
        return self._page is not None

    def requests(self) -> list[Request]:
        """The requests to carry out now (each is returned once)."""
        out = self._requests
        if out:  # nearly always empty: no new list per frame then
            self._requests = []
        return out

    def asking(self) -> bool:
        """Whether :meth:`requests` has something to carry out."""
        return bool(self._requests)

    def ready(self) -> bool:
        """Whether :meth:`take` has an event to give."""
        return bool(self._outbox) and not isinstance(self._outbox[0], _Pending)

    def queued(self) -> int:
        """Events in the outbox (those waiting for a lookup included)."""
        return len(self._outbox)

    def crowded(self) -> bool:
        """The outbox holds more than half its capacity (past it, a consumer is behind)."""
        return not self._room()

    def held(self) -> int:
        """Events held aside while a backfill runs."""
        return len(self._held) if self._held is not None else 0

    def remembered(self) -> int:
        """Message ids held in memory by the guard (ring, ties, held frames)."""
        return len(self._ring_ids) + len(self._pos_ids) + len(self._floor_ids) + len(self._held_ids)

    def take(self) -> Event | None:
        """The next event for the consumer, or ``None`` if none is ready."""
        outbox = self._outbox
        if not outbox:
            return None
        event = outbox[0]
        if type(event) is MessageReceived:  # nearly every event
            outbox.popleft()
            self._advance(event.message)
        elif isinstance(event, _Pending):
            return None  # the events behind it wait for its lookup
        else:
            outbox.popleft()
        if self.state is _BACKFILL:
            self._maybe_page()
        return event

    # -- inputs from the socket --------------------------------------------------------

    def attached(self, reconnected: StreamReconnected | None = None) -> None:
        """A socket is attached (``reconnected`` is the stream's event after a drop)."""
        if self.state is State.ENDED:
            return
        if self.state is State.ENDING:
            return
        if reconnected is not None:
            self._reconnected.append(reconnected)
            self._holding().append(_REATTACH)
        self._stale = self._page is not None
        self._start_backfill()
        self._requests.append(FetchMembers())

    def detached(self, event: StreamDisconnected) -> None:
        """The socket dropped; the stream reconnects on its own."""
        if self.closing:
            return  # the server closes the socket after the end: nothing is missed
        self._put(event)
        self._missed = True
        self._stale = self._page is not None
        if self.state is not State.ENDING:
            self.state = State.DETACHED

    def frame(self, event: Event) -> None:
        """A decoded frame (:func:`~webchat_async._events.decode_frame`)."""
        state = self.state
        if state is _ENDED:
            return
        if isinstance(event, MessageReceived):
            if state is _BACKFILL or (state is _LIVE and len(self._outbox) >= self._capacity):
                self._hold(event)
                return
            self._offer(event.message, event)
        elif isinstance(event, MemberStateChanged):
            if chat_is_over(event.member_id, self._member_id, event.state):
                self._over("the guest is disconnected")
                return
            known = self._members.get(event.member_id, event.member)
            self._members[event.member_id] = attrs.evolve(known, state=event.state)
            lookup = FetchMember(event.member_id)
            self._put(_Pending(lookup, frame=event))
            self._requests.append(lookup)
        elif isinstance(event, MediaRequestReceived):
            request_id = event.request.id
            if request_id and request_id not in self._media_seen:
                self._see_media(request_id)
                self._put(event)
        elif isinstance(event, StreamDisconnected):
            self.detached(event)
        elif isinstance(event, StreamReconnected):
            self.attached(event)
        else:
            self._put(event)

    @property
    def member_id(self) -> str:
        """The guest's own member id (whose ``DISCONNECTED`` ends the chat)."""
        return self._member_id

    def refused_reattach(self) -> None:
        """The reattach handshake was refused because the chat ended while detached (a 400,
        or another refusal the driver found to mean the end): read the missed messages
        once, then end (saying whether they were all read)."""
        if self.state in (State.ENDED, State.ENDING):
            return
        self._ending_reason = "the conversation ended while the stream was detached"
        self._missed = True
        self._start_backfill()

    def closing_done(self) -> None:
        """While ``ENDING``: the socket closed, or the driver's grace period passed."""
        if self.state is State.ENDING:
            self._end(self._ending_reason or "the conversation has ended")

    # -- inputs from the messages endpoint ---------------------------------------------

    def page_received(
        self,
        request: FetchPage,
        messages: list[WebChatMessage | Undecodable],
        *,
        next_link: str | None,
    ) -> None:
        """The answer to ``request``: the page's messages in server order (an entry that
        could not be decoded is an :class:`Undecodable`), and its ``next`` link."""
        if request is not self._page:
            return
        self._page = None
        self._pages += 1
        progress = False
        last_id = request.after
        for item in messages:
            if isinstance(item, Undecodable):
                progress = self._stored_fault(item) or progress
                last_id = item.id or last_id
                continue
            message_id = item.id
            if not message_id:
                logger.warning("a stored message has no id; skipped")
                continue
            last_id = message_id
            if self._rescan and self._start is not None and self._before_start(item):
                continue
            if message_id in self._held_ids:
                self._release(until=message_id)
            if self._offer(item, None):
                self._recovered += 1
                progress = True
        # docs/protocol.md#unknowns: the last page is a short one without ``next``; a full
        # page without ``next`` may not be the last. A page that brings nothing new, or the
        # page cap, ends the backfill too: a server repeating a page must not make the
        # reader loop.
        short = len(messages) < request.size
        done = (short and not next_link) or not messages
        self._stalls = 0 if progress else self._stalls + 1
        if not done and self._stalls >= _STALLS and not self._rescan:
            logger.warning("the messages endpoint repeats its pages; backfill stopped")
            done = True
        if not done and self._pages >= MAX_PAGES:
            logger.warning("backfill stopped after %d pages", self._pages)
            done = True
        if done and (self._unheld or self._stale):
            # Frames were left to the endpoint, or the socket dropped, after this page was
            # asked for: one more.
            done = False
        if done:
            self._caught_up()
        else:
            self._next_after = last_id
            self._maybe_page()

    def page_refused(self, request: FetchPage, *, ended: bool) -> None:
        """``request`` was refused: ``ended`` (the chat is over for the guest), else the
        cursor is unknown to the service (a frame carried a bogus id): try another."""
        if request is not self._page:
            return
        self._page = None
        if ended:
            self._refused_for_end()
            return
        after = request.after
        if after is None:
            self._caught_up()
            return
        logger.warning("backfill cursor refused; trying another")
        while after in self._cursors:
            self._cursors.remove(after)
        self._next_after = self._cursors[0] if self._cursors else None
        if self._next_after is None:
            self._rescan = True
        self._maybe_page()

    def page_failed(self, request: FetchPage) -> None:
        """``request`` failed transiently (connection, 429, 5xx): ask again (the driver
        spaces the attempts with its backoff and gives up after its window)."""
        if request is not self._page:
            return
        self._page = FetchPage(request.after, request.size, request.attempt + 1)
        self._unheld = 0  # frames read before this new request are in its answer
        self._stale = False
        self._requests.append(self._page)

    # -- inputs from lookups -----------------------------------------------------------

    def member_received(self, request: FetchMember, member: WebChatMemberInfo | None) -> None:
        """The answer to a :class:`FetchMember` (``None``: it failed or did not decode)."""
        for pending in self._pendings(request):
            frame = pending.frame
            if frame is None:  # a FetchMember is only ever queued with its frame
                raise RuntimeError("a member lookup without its member-change frame")
            # A failed lookup (the chat just ended, or the member does not decode): the
            # member as last known will do. The frame's state is the news either way.
            found = member if member is not None else self._members.get(frame.member_id)
            found = found if found is not None else frame.member
            found = attrs.evolve(found, state=frame.state or found.state)
            if member is not None:
                self._members[frame.member_id] = found
            pending.events = [_member_event(frame.member_id, frame.state, found, frame)]
            break
        self._settle()

    def members_received(
        self, request: FetchMembers, members: list[WebChatMemberInfo] | None
    ) -> None:
        """The answer to a :class:`FetchMembers` (``None``: it failed)."""
        if self.state is State.ENDED:
            return
        if members is not None:
            first = not self._members_read
            self._members_read = True
            for member in members:
                if not member.id:
                    continue
                before = self._members.get(member.id)
                self._members[member.id] = member
                unchanged = before is not None and before.state == member.state
                if first or unchanged or member.id == self._member_id:
                    continue
                # A change that happened while detached (docs/protocol.md#unknowns): reported now.
                self._put(_member_event(member.id, member.state, member, None))
        guest = next((m for m in members or () if m.id == self._member_id), None)
        if guest is not None and guest.state == MemberState.DISCONNECTED:
            self._over("the guest is disconnected")

    def media_received(
        self, request: FetchMediaRequests, requests: list[WebChatGuestMediaRequest] | None
    ) -> None:
        """The answer to a :class:`FetchMediaRequests` (``None``: it failed)."""
        for pending in self._pendings(request):
            events: list[Event] = []
            for media in requests or ():
                if (
                    media.id
                    and media.state == MediaRequestState.PENDING
                    and media.id not in self._media_seen
                ):
                    self._see_media(media.id)
                    events.append(MediaRequestReceived(media))
            pending.events = events
            break
        self._settle()

    # -- the guard ---------------------------------------------------------------------

    def _offer(self, message: WebChatMessage, event: MessageReceived | None) -> bool:
        """Deliver ``message`` if it is new (module docstring); return whether it was."""
        message_id = message.id
        if not message_id or message_id in self._ring_ids or message_id in self._pos_ids:
            return False
        ts = message.timestamp
        pos = self._pos_ts
        if ts is not None and (pos is None or ts > pos):
            # After the position (nearly every message): the position moves to it.
            self._pos_ts = ts
            pos_ids = self._pos_ids
            pos_ids.clear()
            pos_ids.add(message_id)
            self._remember(ts, message_id, in_order=True)
        elif ts is None:
            # No place in server order: told apart by id only (the ring).
            self._remember(ts, message_id, in_order=True)
        elif ts == pos:
            self._pos_ids.add(message_id)
            self._remember(ts, message_id, in_order=True)
        elif self._floor is not None and (
            ts < self._floor or (ts == self._floor and message_id in self._floor_ids)
        ):
            return False  # at or before what left the ring: delivered
        else:
            self._remember(ts, message_id)  # proven new though behind: late
        sender = message.sender
        if sender is not None and sender.id == self._member_id:
            event = MessageReceived(message, True)  # from_guest: the guest's own echo
        elif event is None:
            event = MessageReceived(message)
        self._outbox.append(event)  # a message is never held by _put: queued at once
        if message.body_type == _MEDIA_REQUEST:
            request = FetchMediaRequests()
            self._put(_Pending(request))
            self._requests.append(request)
        return True

    def _advance(self, message: WebChatMessage) -> None:
        """Move the consumer's position past ``message``, taken (the guard's rules)."""
        message_id = message.id
        if not message_id:
            return
        ts = message.timestamp
        taken_ts = self._taken_ts
        if ts is not None and (taken_ts is None or ts > taken_ts):
            # After the position (nearly every message).
            self._taken_cursor = message_id
            self._taken_ts = ts
            ids = self._taken_ids
            ids.clear()
            ids.append(message_id)
        elif ts is None:
            self._taken_cursor = message_id
        elif ts == taken_ts:
            self._taken_cursor = message_id
            ids = self._taken_ids
            ids.append(message_id)
            # Trimmed by halves, not per take: a burst at one timestamp costs O(1) a take.
            if len(ids) > 2 * self._ring_size:
                del ids[: -self._ring_size]
        else:
            return  # a late message: the cursor already lies after it
        self._taken = None

    def _before_start(self, message: WebChatMessage) -> bool:
        """While a rescan pages from the conversation's start: whether ``message`` lies at
        a resumed position's timestamp before every id it recorded (it was delivered
        before them: the position keeps only the last ids of a burst at one timestamp).
        The first of those ids, or a later timestamp, ends the check."""
        if self._start is None or message.timestamp is None:
            return False
        start_ts, start_ids = self._start
        if message.timestamp < start_ts:
            return False  # the floor drops it
        if message.timestamp > start_ts or message.id in start_ids:
            self._start = None
            return False
        return True

    def _unheld_lost(self) -> int:
        last = self._unheld_last
        if self._unheld and last is not None and not self._delivered(last):
            return self._unheld
        return 0

    def _delivered(self, message: WebChatMessage) -> bool:
        message_id = message.id or ""
        if message_id in self._ring_ids or message_id in self._pos_ids:
            return True
        ts, pos = message.timestamp, self._pos_ts
        return ts is not None and pos is not None and ts < pos

    def _remember(
        self, ts: datetime.datetime | None, message_id: str, *, in_order: bool = False
    ) -> None:
        """Put a delivery in the proof ring (``in_order``: in the backfill cursors too)."""
        if in_order:
            cursors = self._cursors
            cursors.append(message_id)
            if len(cursors) > _CURSORS:
                del cursors[0]
        ring = self._ring
        ring.append((ts, message_id))
        ring_ids = self._ring_ids
        ring_ids.add(message_id)
        while len(ring) > self._ring_size:
            old_ts, old_id = ring.popleft()
            ring_ids.discard(old_id)
            if old_ts is None:
                continue
            floor = self._floor
            if floor is None or old_ts > floor:
                self._floor = old_ts
                floor_ids = self._floor_ids
                if isinstance(floor_ids, set):  # reused: not a new set per delivery
                    floor_ids.clear()
                    floor_ids.add(old_id)
                else:
                    self._floor_ids = {old_id}
            elif old_ts == floor:
                floor_ids = self._floor_ids
                if not isinstance(floor_ids, set):
                    floor_ids = self._floor_ids = set(floor_ids)
                floor_ids.add(old_id)

    def _stored_fault(self, fault: Undecodable) -> bool:
        """A stored message that does not decode: reported once (by id), then skipped."""
        key = fault.id
        if key is not None:
            if key in self._ring_ids:
                return False
            self._remember(None, key)
        # Never dropped like a momentary frame: it stands for a message.
        self._outbox.append(UnknownEvent(fault.raw, "a stored message does not decode"))
        return True

    # -- helpers -----------------------------------------------------------------------

    def _full(self) -> bool:
        return len(self._outbox) >= self._capacity

    def _put(self, item: _Item) -> None:
        """Queue a non-message event; held in place while a backfill holds frames."""
        if isinstance(item, (TypingStarted, UnknownEvent)):
            if self.state is State.BACKFILL or self._full():
                return  # momentary; dropped while the consumer is behind
        elif self.state is State.BACKFILL and self._held and not isinstance(item, MessageReceived):
            self._held.append(item)
            return
        self._outbox.append(item)

    def _hold(self, event: MessageReceived) -> None:
        if self.state is State.LIVE:
            self._start_backfill()
        message_id = event.message.id or ""
        if message_id in self._held_ids:
            return
        if len(self._held_ids) < self._hold_limit:
            self._holding().append(event)
            held_ids = self._held_ids
            if not isinstance(held_ids, set):
                held_ids = self._held_ids = set()
            held_ids.add(message_id)
        else:
            self._unheld += 1
            self._unheld_last = event.message

    def _release(self, until: str | None = None) -> None:
        """Release held events in order: all, or those before the held copy of ``until``
        (dropped: the page delivers that message itself)."""
        held = self._held
        if held is None:
            return
        while held:
            item = held.popleft()
            if isinstance(item, MessageReceived):
                if isinstance(self._held_ids, set):
                    self._held_ids.discard(item.message.id or "")
                if until is not None and item.message.id == until:
                    return
                self._offer(item.message, item)
            elif isinstance(item, _Reattach):
                if self._reconnected:
                    reconnected = self._reconnected.pop(0)
                    self._outbox.append(attrs.evolve(reconnected, backfilled=self._recovered))
            else:
                self._outbox.append(item)
        if self._held is held:
            self._held = None  # all released: the deque goes until the next hold

    def _holding(self) -> deque[Event | _Pending | _Reattach]:
        """The held events, created on the first hold."""
        held = self._held
        if held is None:
            held = self._held = deque()
        return held

    def _see_media(self, media_id: str) -> None:
        seen = self._media_seen
        if not isinstance(seen, set):
            seen = self._media_seen = set()
        seen.add(media_id)

    def _start_backfill(self) -> None:
        self.state = State.BACKFILL
        self._pages = 0
        self._stalls = 0
        self._rescan = False
        self._recovered = 0
        self._unheld = 0
        self._next_after = self._cursors[0] if self._cursors else None
        self._maybe_page()

    def _room(self) -> bool:
        return len(self._outbox) <= self._capacity // 2

    def _maybe_page(self) -> None:
        if self.state is not State.BACKFILL or self._page is not None:
            return
        # At the end the consumer's room does not matter: nothing else will come.
        if self._room() or self._ending_reason is not None:
            self._ask()
        else:
            # Paused until the consumer makes room: the reattach is news now, and the
            # rest of the missed messages follow it.
            self._flush_reconnected()

    def _flush_reconnected(self) -> None:
        while self._reconnected:
            reconnected = self._reconnected.pop(0)
            self._put(attrs.evolve(reconnected, backfilled=self._recovered))

    def _ask(self) -> None:
        self._unheld = 0
        self._stale = False
        self._page = FetchPage(self._next_after)
        self._requests.append(self._page)

    def _caught_up(self) -> None:
        self._release()
        self._missed = False
        if self._ending_reason is not None:
            self._end(self._ending_reason)
            return
        if self.state is State.BACKFILL:
            self.state = State.LIVE
        self._flush_reconnected()

    def _refused_for_end(self) -> None:
        """The endpoint says the chat is over: what is held is all there is."""
        # Frames not held count as lost only if a page has not delivered them since (the
        # consumer may have caught up: no false warning then).
        self._lost_at_end += self._unheld_lost()
        self._unheld = 0
        self._release()
        if self._ending_reason is not None:
            self._end(self._ending_reason)
            return
        self.state = State.ENDING
        self._ending_reason = "the conversation has ended"

    def _over(self, reason: str) -> None:
        """The guest's own member is disconnected: release what is held, then end. If
        messages were left to the endpoint, read them first (it may still answer)."""
        if self.state is State.BACKFILL and (self._unheld or self._missed or self._page):
            self._ending_reason = reason
            self._maybe_page()
            return
        self._release()
        self._end(reason)

    def _end(self, reason: str) -> None:
        self._release()
        lost = self._lost_at_end + self._unheld_lost()
        complete = not lost and not self._missed
        if lost:
            logger.warning("the chat ended with %d messages that could not be read", lost)
        elif self._missed:
            logger.warning("the chat ended while detached; the missed messages are unread")
        self.state = State.ENDED
        self._page = None
        self._outbox.append(ConversationEnded(reason, history_complete=complete))

    def _pendings(self, request: Request) -> list[_Pending]:
        # By identity: two changes of one member are two equal requests.
        found = [p for p in self._outbox if isinstance(p, _Pending) and p.request is request]
        held = self._held or ()
        return found + [p for p in held if isinstance(p, _Pending) and p.request is request]

    def _settle(self) -> None:
        """Replace answered placeholders by their events."""
        for place in (self._outbox, self._held):
            if place is None:
                continue
            if not any(isinstance(p, _Pending) and p.events is not None for p in place):
                continue
            items: deque[Any] = deque()
            for p in place:
                if isinstance(p, _Pending) and p.events is not None:
                    items.extend(p.events)
                else:
                    items.append(p)
            place.clear()
            place.extend(items)


def _member_event(
    member_id: str,
    state: MemberState | None,
    member: WebChatMemberInfo,
    frame: MemberStateChanged | None,
) -> MemberStateChanged:
    kind: type[MemberStateChanged] = MemberStateChanged
    if state == MemberState.CONNECTED:
        kind = MemberJoined
    elif state == MemberState.DISCONNECTED:
        kind = MemberLeft
    conversation_id = frame.conversation_id if frame is not None else None
    timestamp = frame.timestamp if frame is not None else None
    return kind(member_id, state, member, conversation_id, timestamp)
