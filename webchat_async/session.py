"""``GuestSession``: one guest in one chat, with its calls and its stream of typed events.

::

    async with GuestSession.start(
        organization_id=org, deployment_id=dep, member_info=GuestMemberInfo(display_name="Ann"),
        region="mypurecloud.ie",
    ) as session:
        await session.send_message("Hello")
        async for event in session:
            match event:
                case MessageReceived(message=m) if m.sender.id != session.member_id:
                    print(m.body)
                case ConversationEnded():
                    break

How it works
------------
:meth:`GuestSession.start` creates the conversation and attaches the websocket at once (the
service routes the chat only after that), then starts the session's one background task,
the *reader* (:class:`webchat_async._feed.Feed`). The reader reads the stream, completes
events that need a REST call (the member behind a member change, the media request behind
a ``media-request`` message) and puts them in a bounded inbox that
:meth:`GuestSession.events` drains.

* **Exactly once, in order.** After the first attach, every reattach and a resume, the
  reader pages the messages endpoint ``after`` the last message id it delivered before it
  reads any further frame; frames that arrived meanwhile wait in the socket and are then
  read; a message at or before the delivery position is dropped (see
  :mod:`webchat_async._inbound` and docs/guarantees.md).
  A drop shows as :class:`StreamDisconnected`, then the recovered messages, then
  :class:`StreamReconnected` with their count.
* **The guest's own messages** come back as :class:`MessageReceived` too (the service
  echoes them); compare ``message.sender.id`` with :attr:`GuestSession.member_id`.
* **Bounded, never loss, never stalled.** The reader keeps reading the socket whatever the
  consumer does, so keepalives are answered and a drop is repaired at once. When the inbox
  holds ``queue_size`` events, message frames are left to the messages endpoint and
  delivered, in order, once the consumer has drained half of it; typing indicators are
  dropped then; member, media and stream events are always queued (see
  :mod:`webchat_async._feed`). No message is ever dropped.
* **Cancellation is safe.** Cancelling a consumer's ``async for`` takes no event out of the
  inbox; the next ``events()`` continues where the last one stopped.
* **Structured lifetime.** The reader ends with the session (:meth:`GuestSession.aclose`,
  ``async with``). An error in it (the stream refused with 401, reattaching failed for two
  minutes) is raised by the iterator, or by ``aclose``/``__aexit__`` when nobody iterated.
* **The end.** When the guest's own member goes ``DISCONNECTED`` (the guest left, the agent
  ended the chat, the service removed the guest) the iterator yields
  :class:`ConversationEnded` and stops.

Sends go through the REST API and work while the stream reconnects; a message ``POST``
is never stored twice: after an ambiguous failure it is re-sent only once a read of the
messages shows it was not stored (see :meth:`GuestSession.send_message`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from ._aio import cancel_and_wait, within
from ._backoff import Backoff
from ._capabilities import WEB_CHAT_V2, Capabilities
from ._events import (
    AnyEvent,
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
from ._fanout import DEFAULT_SUBSCRIBER_LIMIT, Fanout, Subscription
from ._feed import Feed
from ._inbound import Inbound, Position
from ._options import UNSET, SessionOptions, Unset, check_interval, merge_options
from ._rules import ENDED_CODE
from ._saved import SavedSession
from ._starter import Starter as _Starter
from ._starter import close_on_exit
from ._validate import check_message_text, check_no_controls
from .api import WebChatApi, _default_api_lease
from .errors import (
    ApiConnectionError,
    ApiError,
    BadRequestError,
    InvalidValueError,
    NotFoundError,
    ServerError,
    SessionClosedError,
    WebChatError,
)
from .models import (
    BodyType,
    CreateWebChatConversationRequest,
    CreateWebChatMessageRequest,
    GuestMemberInfo,
    JourneyContext,
    MediaRequestState,
    WebChatGuestMediaRequest,
    WebChatMemberInfo,
    WebChatMessage,
    WebChatRoutingTarget,
)

if TYPE_CHECKING:
    from .stream import EventStream

__all__ = [
    "ConversationEnded",
    "Event",
    "GuestSession",
    "MediaRequestReceived",
    "MemberJoined",
    "MemberLeft",
    "MemberStateChanged",
    "MessageReceived",
    "SavedSession",
    "SessionOptions",
    "StreamDisconnected",
    "StreamReconnected",
    "TypingStarted",
    "UnknownEvent",
]

#: POSTs of one message at most (the first and two more), when the answers are ambiguous
#: and a read shows the message was not stored.
_SEND_ATTEMPTS = 3

#: Ids of the guest's own sent messages remembered, at most (the newest).
_SENT_IDS = 256

logger = logging.getLogger("webchat_async.session")

_E = TypeVar("_E", bound=Event)


class _EventIterator:
    """``session.events()``: a plain async iterator (no generator to finalise)."""

    __slots__ = ("_fanout", "_feed")

    def __init__(self, session: GuestSession) -> None:
        self._fanout = session._fanout
        self._feed = session._feed

    def __aiter__(self) -> _EventIterator:
        return self

    async def __anext__(self) -> AnyEvent:
        # The reader yields only these kinds (SocketClosing stays inside the stream).
        fanout = self._fanout
        if fanout.alone:
            # No subscriber and no other events() read waiting: an event that is ready is
            # taken at once, without the fan-out's and the feed's coroutines (in a burst,
            # nearly every event). Otherwise the fan-out decides, and waits.
            event = self._feed.take_ready()
            if event is not None:
                # No typing.cast here: a call per event (the reader yields only AnyEvent).
                return event  # type: ignore[return-value]
        return cast("AnyEvent", await fanout.next_primary())


class GuestSession:
    """A guest's chat: calls, and an ``async for`` of typed events.

    Create one with :meth:`start` (a new conversation) or :meth:`resume` (one saved with
    :meth:`save`); the constructor is internal.
    """

    # Thousands of sessions per process: no per-instance dict.
    __slots__ = (
        "__weakref__",
        "_api",
        "_closed",
        "_conversation_id",
        "_event_stream_uri",
        "_fanout",
        "_feed",
        "_jwt",
        "_leave_on_exit",
        "_left",
        "_member_id",
        "_options",
        "_owned_apis",
        "_reader",
        "_sent_ids",
        "_stream",
    )

    def __init__(
        self,
        *,
        api: WebChatApi,
        owned_apis: tuple[WebChatApi, ...],
        conversation_id: str,
        member_id: str,
        jwt: str,
        event_stream_uri: str,
        last_message_id: str | None,
        options: SessionOptions,
        position: Position | None = None,
    ) -> None:
        self._api = api
        self._owned_apis = owned_apis
        self._conversation_id = conversation_id
        self._member_id = member_id
        self._jwt = jwt
        self._event_stream_uri = event_stream_uri
        self._options = options
        self._leave_on_exit = options.leave_on_exit
        # Ids of the guest's messages that send_message returned (recent ones): a message
        # found after an ambiguous failure must be none of them. A list, trimmed by hand:
        # an empty deque alone would cost ~760 bytes in every session.
        self._sent_ids: list[str] = []
        if position is None:
            position = Position(cursor=last_message_id)
        # Imported here, on the first session: the websocket layer (and websockets) costs
        # about 12 ms, which an admin-only or REST-only program should not pay at import.
        from .stream import EventStream

        self._stream: EventStream = EventStream(
            event_stream_uri,
            backoff=options.backoff,
            ping_interval=options.ping_interval,
            dead_peer_timeout=options.dead_peer_timeout,
            max_reconnect_window=options.max_reconnect_window,
            open_timeout=options.open_timeout,
            proxy=options.proxy,
            allow_insecure=api.allow_insecure_http,
        )
        # The inbound core (pure) and its driver, the reader task's body.
        core = Inbound(
            member_id=member_id,
            position=position,
            capacity=options.queue_size,
            window=options.dedupe_window,
            hold_limit=options.dedupe_window,
        )
        self._feed = Feed(
            api,
            self._stream,
            core,
            conversation_id=conversation_id,
            backoff=options.backoff,
            retry_window=options.max_reconnect_window,
        )
        self._reader: asyncio.Task[None] | None = None
        self._left = False
        self._closed = False
        self._fanout: Fanout[Event] = Fanout(self._feed.next_event, self._is_closed)

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        organization_id: str,
        deployment_id: str,
        member_info: GuestMemberInfo,
        region: str | None = None,
        base_url: str | None = None,
        routing_target: WebChatRoutingTarget | None = None,
        member_auth_token: str | None = None,
        journey_context: JourneyContext | None = None,
        api: WebChatApi | None = None,
        options: SessionOptions | None = None,
        backoff: Backoff | None = None,
        ping_interval: float | None = None,
        dead_peer_timeout: float | None = None,
        max_reconnect_window: float | None = None,
        open_timeout: float | None = None,
        queue_size: int | None = None,
        dedupe_window: int | None = None,
        typing_interval: float | None = None,
        leave_on_exit: bool | None = None,
        proxy: str | Literal[True] | Unset | None = UNSET,
    ) -> _Starter[GuestSession]:
        """Create a guest conversation and attach its event stream.

        Use the result with ``async with`` (the session closes, and by default leaves, at
        the end) or ``await`` it and call :meth:`aclose` yourself.

        Args:
            organization_id, deployment_id: the web chat deployment.
            member_info: the guest (``display_name`` at least).
            region, base_url: where the API is (see :class:`~webchat_async.api.WebChatApi`);
                ignored when ``api`` is given.
            routing_target, member_auth_token, journey_context: passed to the service.
            api: a shared :class:`~webchat_async.api.WebChatApi`; the session uses it and
                a guest client derived from it, and closes neither. Without it, the
                sessions of one event loop with the same ``region`` / ``base_url`` share
                one connection pool, closed with the last of them.
            options: a :class:`SessionOptions`. The keywords after it (``backoff``,
                ``ping_interval``, ``dead_peer_timeout``, ``max_reconnect_window``,
                ``open_timeout``, ``queue_size``, ``dedupe_window``, ``typing_interval``,
                ``leave_on_exit``, ``proxy``) are its fields of the same name, applied over
                it (``backoff=Backoff.none()``, ``queue_size=1000``, ...); left out
                (``None``), a value comes from ``options`` or the default.

        Raises (when awaited): the API errors of the create call;
        :class:`~webchat_async.errors.AuthenticationError` /
        :class:`~webchat_async.errors.PermissionDeniedError` if the stream refuses the
        handshake; :class:`~webchat_async.errors.StreamError` if it cannot be attached.
        """
        opts = merge_options(
            options,
            {
                "backoff": backoff,
                "ping_interval": ping_interval,
                "dead_peer_timeout": dead_peer_timeout,
                "max_reconnect_window": max_reconnect_window,
                "open_timeout": open_timeout,
                "queue_size": queue_size,
                "dedupe_window": dedupe_window,
                "typing_interval": typing_interval,
                "leave_on_exit": leave_on_exit,
                "proxy": proxy,
            },
        )
        # Refused here, not at the first request: a CR or LF could reach a request line.
        for name, value in (
            ("organization_id", organization_id),
            ("deployment_id", deployment_id),
            ("base_url", base_url),
        ):
            if isinstance(value, str):
                check_no_controls(value, name)
        request = CreateWebChatConversationRequest(
            organization_id=organization_id,
            deployment_id=deployment_id,
            routing_target=routing_target,
            member_info=member_info,
            member_auth_token=member_auth_token,
            journey_context=journey_context,
        )

        async def open_() -> GuestSession:
            shared = api
            owned: list[WebChatApi] = []
            if shared is None:
                shared = _default_api_lease(region=region, base_url=base_url)
                owned.append(shared)
            try:
                created = await shared.post_webchat_guest_conversations(request)
                if not created.id or not created.jwt or not created.event_stream_uri:
                    raise WebChatError("the create-conversation response lacks id/jwt/URI")
                if created.member is None or not created.member.id:
                    raise WebChatError("the create-conversation response lacks the member id")
                # A new conversation is a saved one with nothing delivered yet.
                try:
                    saved = SavedSession(
                        conversation_id=created.id,
                        member_id=created.member.id,
                        jwt=created.jwt,
                        event_stream_uri=created.event_stream_uri,
                        last_message_id=None,
                        base_url=shared.base_url,
                    )
                except InvalidValueError as exc:  # a control character from the server
                    raise WebChatError(f"the create-conversation response: {exc}") from None
            except BaseException:
                await _close_all(owned)
                raise
            return await cls._open(saved, shared, owned, opts)

        return _Starter(open_, f"{cls.__name__}.start")

    @classmethod
    def resume(
        cls,
        saved: SavedSession,
        *,
        api: WebChatApi | None = None,
        options: SessionOptions | None = None,
        backoff: Backoff | None = None,
        ping_interval: float | None = None,
        dead_peer_timeout: float | None = None,
        max_reconnect_window: float | None = None,
        open_timeout: float | None = None,
        queue_size: int | None = None,
        dedupe_window: int | None = None,
        typing_interval: float | None = None,
        leave_on_exit: bool | None = None,
        proxy: str | Literal[True] | Unset | None = UNSET,
    ) -> _Starter[GuestSession]:
        """Reattach to a conversation saved with :meth:`save`, in this task or process.

        The session first yields the messages sent after ``saved.last_message_id`` (those
        the saving session's consumer had not received), then live events. Reattach within
        about two minutes of the last socket closing, or the service removes the guest.
        ``api``, ``options`` and the tuning keywords are those of :meth:`start`.
        """
        opts = merge_options(
            options,
            {
                "backoff": backoff,
                "ping_interval": ping_interval,
                "dead_peer_timeout": dead_peer_timeout,
                "max_reconnect_window": max_reconnect_window,
                "open_timeout": open_timeout,
                "queue_size": queue_size,
                "dedupe_window": dedupe_window,
                "typing_interval": typing_interval,
                "leave_on_exit": leave_on_exit,
                "proxy": proxy,
            },
        )

        async def open_() -> GuestSession:
            owned: list[WebChatApi] = []
            base = api
            if base is None:
                base = _default_api_lease(region=None, base_url=saved.base_url)
                owned.append(base)
            return await cls._open(saved, base, owned, opts)

        return _Starter(open_, f"{cls.__name__}.resume")

    @classmethod
    async def _open(
        cls,
        saved: SavedSession,
        base: WebChatApi,
        owned: list[WebChatApi],
        options: SessionOptions,
    ) -> GuestSession:
        """Derive the guest client from ``base``, build the session and attach its stream;
        on failure, close the clients in ``owned`` (those the caller created)."""
        try:
            guest = base.with_options(guest_token=saved.jwt)
            owned.append(guest)
            session = cls(
                api=guest,
                owned_apis=tuple(owned),
                conversation_id=saved.conversation_id,
                member_id=saved.member_id,
                jwt=saved.jwt,
                event_stream_uri=saved.event_stream_uri,
                last_message_id=saved.last_message_id,
                options=options,
                position=saved.position(),
            )
        except BaseException:
            await _close_all(owned)
            raise
        await session._attach()
        return session

    async def _attach(self) -> None:
        try:
            await self._stream.connect()
        except BaseException:
            await self._stream.aclose()
            await _close_all(self._owned_apis)
            self._closed = True
            raise
        self._reader = asyncio.get_running_loop().create_task(
            self._feed.run(), name=f"webchat-session-{self._conversation_id[:8]}"
        )

    # -- identity ------------------------------------------------------------------------

    @property
    def conversation_id(self) -> str:
        """The conversation id."""
        return self._conversation_id

    @property
    def member_id(self) -> str:
        """The guest's own member id (``message.sender.id`` of its own messages)."""
        return self._member_id

    @property
    def api(self) -> WebChatApi:
        """The guest client (JWT set) the session uses, for the operations not wrapped here."""
        return self._api

    @property
    def capabilities(self) -> Capabilities:
        """What Web Chat v2 supports: a roster and media requests, no attachments or rich
        content (the same attribute as on
        :class:`~webchat_async.messaging.MessagingSession`)."""
        return WEB_CHAT_V2

    @property
    def ended(self) -> bool:
        """Whether the conversation has ended for the guest (it ended, or :meth:`leave`
        succeeded)."""
        return self._feed.ended or self._left

    def __repr__(self) -> str:
        state = "closed" if self._closed else "ended" if self._feed.ended else "open"
        return (
            f"<GuestSession conversation_id={self._conversation_id!r} "
            f"member_id={self._member_id!r} {state} stream={self._stream!r}>"
        )

    def save(self) -> SavedSession:
        """What :meth:`resume` needs to continue this conversation elsewhere.

        Saving means the conversation is meant to go on: closing this session afterwards
        does not leave it (``leave_on_exit`` is switched off).
        """
        self._leave_on_exit = False
        # Where the consumer stands: events still queued are not skipped by a resume.
        position = self._feed.position
        return SavedSession(
            conversation_id=self._conversation_id,
            member_id=self._member_id,
            jwt=self._jwt,
            event_stream_uri=self._event_stream_uri,
            last_message_id=position.cursor,
            base_url=self._api.base_url,
            last_message_timestamp=position.timestamp,
            ids_at_timestamp=position.ids,
        )

    def _position(self) -> Position:
        """What :meth:`save` records as the position, without building a ``SavedSession``
        (a worker reads it at every event; call :meth:`save` once first)."""
        return self._feed.position

    # -- calls ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError("the session is closed")

    def _check_active(self, action: str) -> None:
        """Refuse a call that acts in the conversation once the session is closed or the
        guest is out of it (one check: it includes :meth:`_check_open`'s).

        The service would answer 400 ``chat.error.conversation.state``
        (docs/protocol.md#the-end-of-a-chat); the session already knows, so it says so
        without a request. Reads (``members``, ``history``, ``media_requests``) are still
        sent: whether the service answers them after the end is not documented
        (docs/protocol.md#unknown-after-the-end).
        """
        if self._closed:
            raise SessionClosedError("the session is closed")
        if self._left:
            raise SessionClosedError(f"cannot {action}: the guest has left the conversation")
        if self._feed.ended:
            raise SessionClosedError(f"cannot {action}: the conversation has ended")

    async def send_message(
        self, text: str, *, body_type: BodyType | str | None = None
    ) -> WebChatMessage:
        """Send a message (1 to 4,000 characters); it also comes back as an event.

        Never stored twice. A 503 may come after the service stored the message
        (docs/protocol.md#unknown-503-on-a-post), so before sending again the session reads
        the messages after the last one it delivered and looks for its own: the guest's,
        with this text, not returned by an earlier send. If it is there, it is returned; if
        not, the message is sent again (at most ``_SEND_ATTEMPTS`` times in all, on the
        stream's backoff schedule). If that read fails, the 503 is raised and nothing is
        re-sent. Other 5xx answers, timeouts and dropped connections are raised at once:
        the request may still be in flight, so no read can prove it was not stored.

        Raises :class:`SessionClosedError` without a request once the guest has left or the
        conversation has ended, and ``ValueError`` for an empty or too long ``text``.
        """
        self._check_active("send a message")
        check_message_text(text, "text")
        kind = BodyType(body_type) if body_type is not None else None
        body = CreateWebChatMessageRequest(body=text, body_type=kind)
        since = self._feed.position.cursor
        attempt = 1
        while True:
            try:
                message = await self._api.post_webchat_guest_conversation_member_messages(
                    self._conversation_id, self._member_id, body
                )
            except ServerError as exc:
                if exc.status != 503 or attempt >= _SEND_ATTEMPTS:
                    raise
                try:
                    found = await self._find_sent(text, kind or BodyType.STANDARD, since)
                except (ApiError, ApiConnectionError):
                    raise exc from None
                if found is not None:
                    message = found
                else:
                    attempt += 1
                    logger.debug("message not stored after %r; sending again", exc)
                    await asyncio.sleep(self._options.backoff.delay(attempt))
                    continue
            if message.id is not None:
                sent = self._sent_ids
                sent.append(message.id)
                if len(sent) > _SENT_IDS:
                    del sent[0]
            return message

    async def _find_sent(
        self, text: str, kind: BodyType, since: str | None
    ) -> WebChatMessage | None:
        """The newest of the guest's messages after ``since`` with this text and body type
        that no send has returned yet, or ``None``."""
        found = None
        pages = self._api.iter_webchat_guest_conversation_messages(
            self._conversation_id, after=since
        )
        async for message in pages:
            sender = message.sender.id if message.sender is not None else None
            if (
                sender == self._member_id
                and message.body == text
                and (message.body_type or BodyType.STANDARD) == kind
                and message.id not in self._sent_ids
            ):
                found = message
        return found

    async def send_typing(self) -> None:
        """Send one typing indicator (:class:`SessionClosedError` once the chat is over)."""
        self._check_active("send a typing indicator")
        await self._api.post_webchat_guest_conversation_member_typing(
            self._conversation_id, self._member_id
        )

    @contextlib.asynccontextmanager
    async def typing(self, *, interval: float | None = None) -> AsyncIterator[None]:
        """Show the guest as typing while the block runs.

        Sends a typing indicator at once (its errors are raised) and then every
        ``interval`` seconds (default ``typing_interval``); a failure of a later one
        stops the repetition and is logged, since typing is only a hint.
        """
        every = self._options.typing_interval if interval is None else interval
        every = check_interval("interval", every)
        await self.send_typing()
        repeater = asyncio.get_running_loop().create_task(self._repeat_typing(every))
        try:
            yield
        finally:
            await cancel_and_wait(repeater)

    async def _repeat_typing(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.send_typing()
            except (ApiError, ApiConnectionError, SessionClosedError) as exc:
                logger.debug("typing indicator failed, not repeating: %r", exc)
                return

    async def members(self, *, exclude_disconnected: bool | None = None) -> list[WebChatMemberInfo]:
        """Every member of the conversation (all pages)."""
        self._check_open()
        pages = self._api.iter_webchat_guest_conversation_members(
            self._conversation_id, exclude_disconnected_members=exclude_disconnected
        )
        return [member async for member in pages]

    def history(
        self,
        *,
        after: str | None = None,
        before: str | None = None,
        sort_order: str | None = None,
        max_results: int | None = None,
    ) -> AsyncIterator[WebChatMessage]:
        """The past messages, page after page (``async for``); oldest first by default."""
        self._check_open()
        return self._api.iter_webchat_guest_conversation_messages(
            self._conversation_id,
            after=after,
            before=before,
            sort_order=sort_order,
            max_results=max_results,
        )

    async def media_requests(self) -> list[WebChatGuestMediaRequest]:
        """The media requests made to the guest in this conversation."""
        self._check_open()
        listing = await self._api.get_webchat_guest_conversation_mediarequests(
            self._conversation_id
        )
        return list(listing.entities or ())

    async def accept_media_request(self, media_request_id: str) -> WebChatGuestMediaRequest:
        """Accept a media request."""
        return await self._answer_media(media_request_id, MediaRequestState.ACCEPTED)

    async def decline_media_request(self, media_request_id: str) -> WebChatGuestMediaRequest:
        """Decline a media request."""
        return await self._answer_media(media_request_id, MediaRequestState.DECLINED)

    async def _answer_media(
        self, media_request_id: str, state: MediaRequestState
    ) -> WebChatGuestMediaRequest:
        self._check_active("answer a media request")
        return await self._api.patch_webchat_guest_conversation_mediarequest(
            self._conversation_id, media_request_id, WebChatGuestMediaRequest(state=state)
        )

    async def leave(self) -> None:
        """Leave the conversation (the guest's member is removed); idempotent.

        The stream then announces the guest's ``DISCONNECTED``: the iterator yields
        :class:`ConversationEnded` and stops. A conversation that has already ended (the
        agent ended it, or an earlier attempt went through) counts as left.
        """
        self._check_open()
        if self._left or self._feed.ended:
            self._left = True  # the guest is out already: nothing to ask the service
            return
        try:
            await self._api.delete_webchat_guest_conversation_member(
                self._conversation_id, self._member_id
            )
        except BadRequestError as exc:
            if exc.code != ENDED_CODE:
                raise
        except NotFoundError:
            pass  # the member is gone already
        self._left = True

    # -- events --------------------------------------------------------------------------

    def events(self) -> _EventIterator:
        """An async iterator of the events; several in turn continue one another.

        One consumer at a time: a second one reading while another waits raises
        :class:`~webchat_async.errors.ConcurrentIterationError`. Every further consumer
        uses :meth:`subscribe`.
        """
        return _EventIterator(self)

    def subscribe(self, *, limit: int = DEFAULT_SUBSCRIBER_LIMIT) -> Subscription[AnyEvent]:
        """A copy of every event delivered from now on, for one more consumer.

        ``async with session.subscribe() as events: async for event in events: ...``.
        Each subscription reads at its own pace, independently of :meth:`events` and of
        the others; one that falls more than ``limit`` events (1 to 100,000) behind the
        newest is detached and raises
        :class:`~webchat_async.errors.SubscriberLagError` instead of slowing the others.
        It ends after :class:`ConversationEnded`, when the session closes, or when closed
        (the end of its ``async with`` block). See docs/events.md#several-consumers.
        """
        return cast("Subscription[AnyEvent]", self._fanout.subscribe(limit))

    def _is_closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> _EventIterator:
        return _EventIterator(self)

    # A guest session's messages are Web Chat v2's: the bare class, whose message model is
    # generic over the protocol, would otherwise type ``.message`` as Any.
    @overload
    async def wait_for(
        self,
        kind: type[MessageReceived[Any]],
        /,
        predicate: Callable[[MessageReceived[WebChatMessage]], bool] | None = None,
        *,
        timeout: float | None = None,
    ) -> MessageReceived[WebChatMessage]: ...

    @overload
    async def wait_for(
        self,
        kind: type[_E],
        /,
        predicate: Callable[[_E], bool] | None = None,
        *,
        timeout: float | None = None,
    ) -> _E: ...

    @overload
    async def wait_for(
        self, predicate: Callable[[AnyEvent], bool], /, *, timeout: float | None = None
    ) -> AnyEvent: ...

    async def wait_for(
        self,
        kind: type[Event] | Callable[[AnyEvent], bool],
        /,
        predicate: Callable[[Any], bool] | None = None,
        *,
        timeout: float | None = None,
    ) -> Event:
        """Consume events until one matches, and return it.

        Typed: ``await session.wait_for(MessageReceived, lambda e: e.message.body == "hi",
        timeout=5)`` returns the first :class:`MessageReceived` (an instance of ``kind``)
        the predicate accepts (any one without a predicate), typed as such. Untyped:
        ``await session.wait_for(lambda e: ..., timeout=5)`` returns the first event the
        predicate accepts.

        The events before it are consumed too. Raises :class:`asyncio.TimeoutError` (the
        builtin :class:`TimeoutError` from Python 3.11 on) after ``timeout`` seconds, and
        :class:`SessionClosedError` if the events end first.
        """
        if isinstance(kind, type):
            if not issubclass(kind, Event):
                raise TypeError(f"kind must be an Event class, not {kind.__name__}")
            wanted, accept = kind, predicate
        else:
            if predicate is not None:
                raise TypeError("give either an Event class and a predicate, or a predicate")
            wanted, accept = Event, kind

        async def first() -> Event:
            async for event in self.events():
                if isinstance(event, wanted) and (accept is None or accept(event)):
                    return event
            raise SessionClosedError("the event stream ended before a matching event")

        return await within(timeout, first())

    async def _next_event(self) -> Event:
        return await self._feed.next_event()

    # -- closing -------------------------------------------------------------------------

    async def aclose(self, *, leave: bool | None = None) -> None:
        """Stop the reader, close the socket and the clients the session created.

        Leaves the conversation first when ``leave`` is true (default: ``leave_on_exit``,
        switched off by :meth:`save`) and it has not ended. Idempotent. Raises the error
        that stopped the event stream if no consumer received it.
        """
        if self._closed:
            return
        if leave is None:
            leave = self._leave_on_exit
        try:
            if leave and not self._feed.ended and not self._left:
                await self.leave()
        finally:
            self._closed = True
            reader, self._reader = self._reader, None
            try:
                if reader is not None:
                    await cancel_and_wait(reader)
                await self._stream.aclose()
            finally:
                await _close_all(self._owned_apis)
                unseen = self._feed.close()
        if unseen is not None:
            raise unseen

    def __del__(self) -> None:
        # A warning only (a finalizer schedules no work): aiohttp's "Unclosed client
        # session" alone would not say which object was left open, nor how to close it.
        if not getattr(self, "_closed", True):
            warnings.warn(
                f"GuestSession {self._conversation_id} was never closed: use "
                "`async with GuestSession.start(...) as session:` or `await session.aclose()`",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

    async def __aenter__(self) -> GuestSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await close_on_exit(self.aclose, exc, logger)


async def _close_all(apis: tuple[WebChatApi, ...] | list[WebChatApi]) -> None:
    for client in apis:
        await client.aclose()
