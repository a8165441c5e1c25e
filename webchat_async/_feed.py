"""The asyncio driver of the session's inbound core: one task, the session's *reader*.

:class:`Feed` owns no rule of its own: :class:`~webchat_async._inbound.Inbound` decides
what to deliver and what to ask for; the feed carries the requests out and feeds the
answers back. The socket is read all the time: a receive is always pending while pages and
lookups run as tasks beside it, so a backfill of any length never keeps the reader off the
socket (keepalives are answered, a drop is noticed at once) and a slow consumer never
stalls it (the core leaves messages to the messages endpoint instead).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import attrs

from . import _convert
from ._aio import Waiters, cancel_and_wait
from ._backoff import Backoff
from ._events import Event, MessageReceived, StreamDisconnected, StreamReconnected
from ._inbound import (
    FetchMediaRequests,
    FetchMember,
    FetchMembers,
    FetchPage,
    Inbound,
    Position,
    Request,
    State,
    Undecodable,
)
from ._rules import Handshake, chat_is_over, classify_handshake, is_ended_refusal
from .api import WebChatApi
from .errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    DecodeError,
    HandshakeRefused,
    InvalidValueError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamError,
)
from .models import WebChatMessage

if TYPE_CHECKING:
    from .stream import EventStream

__all__ = ["Feed"]

logger = logging.getLogger("webchat_async.session")

# After the messages endpoint has said the conversation ended, the frames already on their
# way (the last messages, the guest's DISCONNECTED) are read for this long at most
# **[choice: the service closes the socket right after; this bounds a server that does not]**.
_CLOSING_GRACE = 5.0

# A page that fails this way is worth another try: the service is busy or unreachable.
_TRANSIENT = (ApiConnectionError, RateLimitError, ServerError)

# A reattach refused as final: the chat may have ended meanwhile (Feed._ended_while_away).
_REFUSED = (HandshakeRefused, AuthenticationError, PermissionDeniedError)

# Members read after a reattach, at most (one conversation has a handful).
_MAX_MEMBERS = 1000


@attrs.frozen(kw_only=True)
class _RawPage:
    """A messages page with its entries left undecoded: read when the typed page does not
    decode, so that one bad stored message does not hide the others (docs/protocol.md#unknowns)."""

    entities: list[Any] | None = None
    next: str | None = None


class Feed:
    """Drives one :class:`~webchat_async._inbound.Inbound` from a stream and the API.

    Args:
        backoff: the schedule between attempts of a page that failed transiently.
        retry_window: seconds a page may keep failing before the session stops with
            :class:`~webchat_async.errors.StreamError` (the service's reconnect window).

    Attributes:
        finished: the reader is done (ended, failed or stopped); nothing more will come.
        failure: the error that stopped the reader, if one did.
    """

    __slots__ = (
        "_api",
        "_backoff",
        "_closing_grace",
        "_conversation_id",
        "_core",
        "_failing_since",
        "_failure_seen",
        "_kick",
        "_retry_window",
        "_stream",
        "_waiters",
        "failure",
        "finished",
    )

    def __init__(
        self,
        api: WebChatApi,
        stream: EventStream,
        core: Inbound,
        *,
        conversation_id: str,
        backoff: Backoff,
        retry_window: float,
        closing_grace: float = _CLOSING_GRACE,
    ) -> None:
        self._api = api
        self._stream = stream
        self._core = core
        self._conversation_id = conversation_id
        self._backoff = backoff
        self._retry_window = retry_window
        self._closing_grace = closing_grace
        self._failing_since: float | None = None
        # Consumers waiting for the reader to have something for them (or to finish): one
        # future per wait, as asyncio.Event keeps, without the Event and its deque per
        # session (there are thousands).
        self._waiters = Waiters()
        # Set by a consumer that took an event: the core may now want a page.
        self._kick: asyncio.Future[None] | None = None
        self.finished = False
        self.failure: BaseException | None = None
        self._failure_seen = False

    @property
    def ended(self) -> bool:
        """The conversation has ended for the guest (:class:`ConversationEnded` queued)."""
        return self._core.ended

    @property
    def position(self) -> Position:
        """Where the consumer stands (what a saved session records)."""
        return self._core.position

    # -- the consumer side ---------------------------------------------------------------

    async def next_event(self) -> Event:
        """The next event; ``StopAsyncIteration`` at the end, or the reader's failure.

        Cancelling it takes nothing: an event leaves the core only when it is returned.
        """
        while True:
            event = self.take_ready()
            if event is not None:
                return event
            if self.finished:
                self._raise_end()
            await self._waiters.wait()

    def take_ready(self) -> Event | None:
        """The next event if one is ready now, else ``None``; never waits (a consumer
        reading a burst takes it without a coroutine per event)."""
        event = self._core.take()
        if event is not None:
            kick = self._kick
            if kick is not None and not kick.done():
                kick.set_result(None)
        return event

    def _raise_end(self) -> None:
        if self.failure is not None:
            self._failure_seen = True
            raise self.failure
        raise StopAsyncIteration

    def close(self) -> BaseException | None:
        """Mark the feed finished (the reader was stopped), wake consumers, and return the
        reader's failure if no consumer has received it yet."""
        self.finished = True
        self._waiters.wake()
        if self.failure is not None and not self._failure_seen:
            self._failure_seen = True
            return self.failure
        return None

    # -- the reader task -----------------------------------------------------------------

    async def run(self) -> None:
        """Read until the conversation ends, the stream fails for good, or cancellation."""
        core = self._core
        loop = asyncio.get_running_loop()
        receiving: asyncio.Task[Event] | None = None
        tasks: dict[asyncio.Task[Any], Request] = {}
        stream_open = True
        closing_by: float | None = None
        # No local outlives its round: while a session idles (for hours, thousands of them)
        # this frame must not keep the last event or the last done task (and its page).
        try:
            core.attached(None)
            # After the end, only the lookups that events in the outbox wait for remain.
            while not core.ended or core.waiting():
                requests = core.requests()
                if requests:
                    tasks.update({loop.create_task(self._carry_out(r)): r for r in requests})
                    del requests
                if receiving is None and not tasks and stream_open and core.state is State.LIVE:
                    stream_open = await self._read_live()
                    continue
                if receiving is not None and not tasks and core.state is State.LIVE:
                    # Live again with the receive started during a backfill still pending:
                    # wait for it alone, as above (an idle session then holds no kick, no
                    # asyncio.wait waiter and callbacks while nothing comes).
                    try:
                        await receiving
                    except Exception:  # task.result() raises it again, below
                        pass
                    received, receiving = receiving, None
                    stream_open = await self._received(received, False)
                    del received
                    if core.ready():
                        self._waiters.wake()
                    continue
                if receiving is None and stream_open and not core.ended:
                    receiving = loop.create_task(self._stream.receive())
                if core.state is State.ENDING and closing_by is None:
                    closing_by = loop.time() + self._closing_grace
                self._kick = kick = loop.create_future()
                waiting: set[asyncio.Future[Any]] = {kick, *tasks}
                if receiving is not None:
                    waiting.add(receiving)
                timeout = None if closing_by is None else max(closing_by - loop.time(), 0.0)
                try:
                    done, _ = await asyncio.wait(
                        waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    self._kick = None
                    kick.cancel()
                if not done and closing_by is not None:
                    core.closing_done()
                if receiving is not None and receiving in done:
                    received, receiving = receiving, None
                    stream_open = await self._received(received, closing_by is not None)
                    del received
                    if closing_by is not None and not stream_open:
                        core.closing_done()
                self._answer_all(done, tasks)
                del done, _, waiting, kick
                if core.ready():
                    self._waiters.wake()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.info("session %s: event stream failed: %r", self._conversation_id, exc)
            self.failure = exc
        finally:
            for task in [*tasks, *([receiving] if receiving is not None else [])]:
                await cancel_and_wait(task)
            self.finished = True
            self._waiters.wake()

    async def _read_live(self) -> bool:
        """Live with nothing else to wait for (the common case): read in the reader's own
        task (a frame costs no task of its own) for as long as the core stays live and
        asks for nothing; return whether the stream can be read on.

        A consumer taking events makes no request while live, so nothing needs waking
        meanwhile. No local holds an event across a receive: an idle session keeps none.
        """
        core = self._core
        receive = self._stream.receive
        waiters = self._waiters
        ready, asking = core.ready, core.asking
        live = State.LIVE
        while True:
            try:
                event = await receive()
            except _REFUSED as exc:
                return await self._refused(exc)
            if type(event) is MessageReceived:  # nearly every frame: straight to the core
                core.frame(event)
                del event
            else:
                open_ = self._take_in(event, False)
                del event
                if not open_:
                    return False
            if waiters and ready():
                waiters.wake()
                if core.crowded():
                    # One socket read holds hundreds of frames: the waiting consumer
                    # takes them before the inbox fills, or a burst would look like a
                    # slow consumer (and cost a backfill).
                    await asyncio.sleep(0)
            if core.state is not live or asking():
                return True

    async def _received(self, receiving: asyncio.Task[Event], closing: bool) -> bool:
        """Feed a finished receive task to the core; return whether the stream can be read
        on."""
        try:
            event = receiving.result()
        except _REFUSED as exc:
            return await self._refused(exc)
        return self._take_in(event, closing)

    async def _refused(
        self, exc: HandshakeRefused | AuthenticationError | PermissionDeniedError
    ) -> bool:
        """A reattach refused as final: the end of the chat while away, or the error."""
        ended = isinstance(exc, HandshakeRefused) and (
            classify_handshake(exc.status) is Handshake.ENDED
        )
        if not ended and not await self._ended_while_away():
            raise exc
        # The chat ended while we were away: one read of what was missed, then the end.
        self._core.refused_reattach()
        return False

    def _take_in(self, event: Event, closing: bool) -> bool:
        """Feed a received event to the core; return whether the stream can be read on."""
        core = self._core
        if type(event) is MessageReceived:  # nearly every frame: straight to the core
            core.frame(event)
        elif isinstance(event, StreamDisconnected):
            if closing or core.closing:
                return False  # the server closed the socket after the end
            core.detached(event)
        elif isinstance(event, StreamReconnected):
            core.attached(event)
        else:
            core.frame(event)
        return True

    def _answer_all(
        self, done: set[asyncio.Future[Any]], tasks: dict[asyncio.Task[Any], Request]
    ) -> None:
        """Feed the core the answers of the request tasks in ``done``, in turn."""
        for task in [t for t in done if t in tasks]:
            self._answered(tasks.pop(task), task)

    def _answered(self, request: Request, task: asyncio.Task[Any]) -> None:
        core = self._core
        if isinstance(request, FetchPage):
            try:
                messages, next_link = task.result()
            except BadRequestError as exc:
                if is_ended_refusal(exc.status, exc.code):
                    core.page_refused(request, ended=True)
                    return
                if request.after is None:
                    raise
                core.page_refused(request, ended=False)
                return
            except InvalidValueError:
                # A message id the SDK will not put in a URL (a control character: the
                # server sent a bogus id, docs/security.md) is a cursor the service does
                # not know either: the core tries another.
                if request.after is None:
                    raise
                core.page_refused(request, ended=False)
                return
            except _TRANSIENT as exc:
                now = asyncio.get_running_loop().time()
                if self._failing_since is None:
                    self._failing_since = now
                if now - self._failing_since >= self._retry_window:
                    raise StreamError(
                        f"could not read the missed messages for {self._retry_window:g} s"
                    ) from exc
                logger.warning("backfill failed (%r); retrying", exc)
                core.page_failed(request)
                return
            self._failing_since = None
            core.page_received(request, messages, next_link=next_link)
        elif isinstance(request, FetchMember):
            core.member_received(request, task.result())
        elif isinstance(request, FetchMembers):
            core.members_received(request, task.result())
        else:
            core.media_received(request, task.result())

    async def _ended_while_away(self) -> bool:
        """Whether a reattach refused as final (401, 403, 404) means the chat ended.

        What a handshake after the end gets is undocumented (400, 401 or 404:
        docs/protocol.md#unknowns), so one read of the guest's own member decides: it is
        ``DISCONNECTED``, or the read is refused as for an ended chat. Anything else (a 401
        here too: the JWT really is refused) keeps the handshake's error.
        """
        member_id = self._core.member_id
        try:
            member = await self._api.get_webchat_guest_conversation_member(
                self._conversation_id, member_id
            )
        except BadRequestError as exc:
            return is_ended_refusal(exc.status, exc.code)
        except (ApiError, ApiConnectionError, DecodeError):
            return False
        return chat_is_over(member.id or member_id, member_id, member.state)

    # -- requests ------------------------------------------------------------------------

    async def _carry_out(self, request: Request) -> Any:
        if isinstance(request, FetchPage):
            return await self._page(request)
        try:
            if isinstance(request, FetchMember):
                return await self._api.get_webchat_guest_conversation_member(
                    self._conversation_id, request.member_id
                )
            if isinstance(request, FetchMembers):
                members = []
                pages = self._api.iter_webchat_guest_conversation_members(self._conversation_id)
                async for member in pages:
                    members.append(member)
                    if len(members) >= _MAX_MEMBERS:
                        break
                return members
            if not isinstance(request, FetchMediaRequests):
                raise TypeError(f"unknown request {type(request).__name__}")
            listing = await self._api.get_webchat_guest_conversation_mediarequests(
                self._conversation_id
            )
            return list(listing.entities or ())
        except (ApiError, ApiConnectionError, DecodeError, InvalidValueError) as exc:
            # Typically the chat has just ended (400), or a stored field does not decode
            # (docs/protocol.md#unknowns), or the server sent an id the SDK will not put in
            # a URL (a control character): the core goes on with what it knows.
            if isinstance(exc, ApiError) and is_ended_refusal(exc.status, exc.code):
                # The race every chat the agent ends has: the member's leave event arrives,
                # its lookup reaches the service after the end. Expected, so not a warning.
                logger.debug("lookup %s after the chat ended: %r", type(request).__name__, exc)
            else:
                logger.warning("lookup %s failed: %r", type(request).__name__, exc)
            return None

    async def _page(self, request: FetchPage) -> tuple[list[WebChatMessage | Undecodable], Any]:
        if request.attempt > 1:
            delay = self._backoff.delay(request.attempt - 1)
            if delay > 0:
                await asyncio.sleep(delay)
        try:
            page = await self._api.get_webchat_guest_conversation_messages(
                self._conversation_id,
                after=request.after,
                sort_order="ascending",
                max_results=request.size,
            )
        except DecodeError:
            return await self._lenient_page(request)
        return list(page.entities or ()), page.next

    async def _lenient_page(
        self, request: FetchPage
    ) -> tuple[list[WebChatMessage | Undecodable], str | None]:
        """The page again, each entry decoded on its own (docs/protocol.md#unknowns: a stored
        message that does not decode is reported, and the others are delivered)."""
        api = self._api
        path, params = api._messages_request(
            self._conversation_id, request.after, None, "ascending", request.size
        )
        raw = await api._call("GET", path, _RawPage, api._guest(), params=params)
        out: list[WebChatMessage | Undecodable] = []
        for entry in raw.entities or ():
            try:
                message = _convert.structure(entry, WebChatMessage)
                if _convert.lone_surrogate_path(message) is not None:
                    raise DecodeError("a string holds a lone surrogate")
                out.append(message)
            except DecodeError:
                entry_id = entry.get("id") if isinstance(entry, dict) else None
                if not isinstance(entry_id, str) or _convert.lone_surrogate_path(entry_id):
                    entry_id = None  # not a cursor the endpoint could be asked for
                text = _convert.escape_surrogates(_convert.dump_json(entry)[:65536])
                out.append(Undecodable(entry_id, text))
                logger.warning("a stored message does not decode; reported as UnknownEvent")
        return out, raw.next if isinstance(raw.next, str) else None
