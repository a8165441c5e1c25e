"""``MessagingSession``: one Web Messaging guest, its sends and its stream of typed events.

::

    async with MessagingSession.start(
        deployment_id=DEP, region="eu-west-1", origin="https://shop.example"
    ) as session:
        await session.send_message("Hello")
        async for event in session:
            match event:
                case MessageReceived(from_guest=False, text=str(text)):
                    print(text)
                case ConversationEnded():
                    break

How it works
------------
Every rule of the protocol is in the pure core, :class:`~._protocol.MessagingCore`
(docs/messaging-protocol.md): what to send, when to reconnect, what to deliver. The
session is its asyncio driver: one background task, the *reader*, feeds the core the
frames of the websocket, the answers of the history and upload requests and the time,
and carries out what the core asks (:mod:`._outputs`): send a frame, open or close the
socket, read a history page, upload bytes, complete or fail a send. The calls
(``send_message``, ``send_typing``, ``send_attachment``) queue their send in the core and
wait for its completion; the consumer takes the core's events.

* **Exactly once, in ``channel.time`` order**, across drops (the core's reorder window,
  dedupe and history read after every reconnect): a drop shows as
  :class:`~webchat_async.StreamDisconnected`, the messages missed meanwhile, then
  :class:`~webchat_async.StreamReconnected`.
* **Bounded.** While the consumer has ``queue_size`` events waiting, the reader stops
  reading the socket (unless a send waits for its echo, up to twice ``queue_size``): the
  websocket library's buffer (16 frames of at most 1 MiB) and TCP then hold the service
  back.
* **Structured lifetime.** The reader and the requests it started end with the session
  (:meth:`MessagingSession.aclose`, ``async with``); an unexpected error in it is raised by
  the event iterator and the pending sends, or by ``aclose`` when nobody saw it.
* **Secrets.** The session token and the history JWT are in no repr, log record or
  exception text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .._aio import Waiters, cancel_and_wait
from .._capabilities import WEB_MESSAGING, Capabilities
from .._events import AnyEvent, Event, MessageReceived
from .._fanout import DEFAULT_SUBSCRIBER_LIMIT, Fanout, Subscription
from .._http import HttpClient
from .._starter import Starter, close_on_exit
from .._validate import check_no_controls
from .._websocket import close_info
from ..auth import BearerAuth
from ..errors import SessionClosedError, StreamError, WebChatError
from ._actions import encode
from ._models import StructuredMessage
from ._options import CoreOptions
from ._outputs import (
    CloseSocket,
    FetchHistory,
    OpenSocket,
    Output,
    PutAttachment,
    SendDone,
    SendFailed,
    SendFrame,
)
from ._protocol import MessagingCore, State
from ._socket import Hosts, Refused, SocketFailed, fetch_page, open_socket, upload
from ._wire import decode_frame, decode_page

if TYPE_CHECKING:  # the api module is loaded only by a caller that passes one
    from ..api import WebChatApi

__all__ = ["MessagingSession"]

logger = logging.getLogger("webchat_async.messaging")

#: The ``application`` query parameter of the websocket URL: free text naming the client.
APPLICATION = "webchat-async"

#: Longest session token the service accepts (docs/messaging-protocol.md#frames).
MAX_TOKEN_LENGTH = 2048

#: History pages :meth:`MessagingSession.history` reads at most.
_HISTORY_PAGES = 1000


class _EventIterator:
    """``session.events()``: a plain async iterator (no generator to finalise)."""

    __slots__ = ("_session",)

    def __init__(self, session: MessagingSession) -> None:
        self._session = session

    def __aiter__(self) -> _EventIterator:
        return self

    async def __anext__(self) -> AnyEvent:
        session = self._session
        fanout = session._fanout
        # The common case inline (no subscriber and no other reader, an event is there,
        # the socket is being read): one coroutine per event, not two.
        if fanout.alone and not session._paused:
            event = session._core.take()
            if event is not None:
                return event  # type: ignore[return-value]  # the core makes only AnyEvent
        return await fanout.next_primary()  # type: ignore[return-value]


class MessagingSession:
    """A Web Messaging guest session: sends, and an ``async for`` of typed events.

    Create one with :meth:`start`; the constructor is internal.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_closed",
        "_core",
        "_failure",
        "_failure_seen",
        "_fanout",
        "_frames",
        "_hosts",
        "_http",
        "_kick",
        "_open_timeout",
        "_origin",
        "_page_size",
        "_paused",
        "_ping_interval",
        "_proxy",
        "_queue_size",
        "_reader",
        "_refusal",
        "_sends",
        "_typing_interval",
        "_uploads",
        "_waiters",
        "_ws",
    )

    def __init__(
        self,
        *,
        core: MessagingCore,
        options: CoreOptions,
        hosts: Hosts,
        origin: str,
        http: HttpClient,
        queue_size: int,
        open_timeout: float,
        ping_interval: float,
        proxy: str | Literal[True] | None,
        clock: Callable[[], float],
    ) -> None:
        self._core = core
        self._hosts = hosts
        self._origin = origin
        self._http = http
        self._queue_size = queue_size
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._typing_interval = options.typing_interval
        self._page_size = min(options.page_size, 100)
        self._proxy = proxy
        self._clock = clock
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        # Frames read from the socket, not yet fed to the core (see _run).
        self._frames: deque[str | bytes] = deque()
        # The socket is not read: the consumer is behind (its take pokes the driver).
        self._paused = False
        # Calls waiting for their send's SendDone / SendFailed, by send id.
        self._sends: dict[int, asyncio.Future[StructuredMessage | None]] = {}
        # The bytes of attachments on their way, by send id (dropped when the send ends).
        self._uploads: dict[int, bytes] = {}
        # Callers waiting for the reader to have done something (an event, the start).
        self._waiters = Waiters()
        # Set by a caller: the core has new work (a send) or room (events taken).
        self._kick: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None
        self._failure_seen = False
        self._refusal: WebChatError | None = None
        self._closed = False
        self._fanout: Fanout[Event] = Fanout(self._next_event, self._is_closed)

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        deployment_id: str,
        origin: str,
        region: str | None = None,
        base_url: str | None = None,
        token: str | None = None,
        start_new: bool = False,
        options: CoreOptions | None = None,
        api: WebChatApi | None = None,
        queue_size: int = 1000,
        open_timeout: float = 10.0,
        ping_interval: float = 15.0,
        proxy: str | Literal[True] | None = True,
        allow_insecure_http: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> Starter[MessagingSession]:
        """Open (or, with ``token``, reattach) a Web Messaging session.

        Use the result with ``async with`` (the session closes at the end) or ``await`` it
        and call :meth:`aclose` yourself. Closing does not end the conversation: the same
        ``token`` reattaches it, from this process or another.

        Args:
            deployment_id: the web deployment (Messenger) id.
            origin: the ``Origin`` header (``"https://shop.example"``); the deployment may
                allow only some domains.
            region, base_url: where the service is: a region code or domain (as for
                :class:`~webchat_async.GuestSession`), or a base URL
                (``"http://127.0.0.1:PORT"``: the simulator serves all on one port).
            token: the session token to reattach; ``None``: a new one (a UUID). A secret:
                whoever holds it reads the conversation.
            start_new: ask for a new conversation (after the last one became read-only).
            options: the protocol's tuning (:class:`~webchat_async.messaging.CoreOptions`:
                reorder window, rate limit, expiry warning, ...).
            api: a shared :class:`~webchat_async.WebChatApi` whose connection pool the
                session uses for the history and uploads (as
                :class:`~webchat_async.GuestSession` does; neither closes it): a thousand
                sessions then share one pool. By default the session has its own.
            queue_size: events held for the consumer before the socket is no longer read
                (up to twice as many while a send waits for its echo).
            open_timeout: seconds allowed for one websocket handshake.
            ping_interval: seconds between websocket pings (a pong missing for twice that
                drops the socket, which is then reconnected).
            proxy: for the websocket (``True``: from the environment; ``None``: none).
            allow_insecure_http: accept ``http://``/``ws://`` to a host other than loopback.
            clock: wall-clock epoch seconds (the core's time; injectable for tests).

        Raises (when awaited): :class:`~webchat_async.errors.PermissionDeniedError` if the
        handshake is refused (403: wrong deployment, origin not allowed),
        :class:`~webchat_async.errors.StreamError` if no socket could be configured within
        the core's ``max_reconnect_window``, a
        :class:`~webchat_async.errors.MessagingError` if the service refuses the session.
        """
        if token is None:
            token = str(uuid.uuid4())
        elif not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
            raise ValueError(f"token must be a str of 1 to {MAX_TOKEN_LENGTH} characters")
        check_no_controls(token, "token", secret=True)
        check_no_controls(origin, "origin")
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError("queue_size must be an int >= 1")
        for name, value in (("open_timeout", open_timeout), ("ping_interval", ping_interval)):
            if isinstance(value, bool) or not value > 0 or value == float("inf"):
                raise ValueError(f"{name} must be a positive finite number")
        hosts = Hosts.build(
            deployment_id,
            region=region,
            base_url=base_url,
            application=APPLICATION,
            allow_insecure_http=allow_insecure_http,
        )
        opts = options if options is not None else CoreOptions()

        async def open_() -> MessagingSession:
            # Derived from the api's: the same pool, which closing the session leaves open.
            client = HttpClient() if api is None else api._http.derive()
            core = MessagingCore(
                token=token, deployment_id=deployment_id, options=opts, start_new=start_new
            )
            session = cls(
                core=core,
                options=opts,
                hosts=hosts,
                origin=origin,
                http=client,
                queue_size=queue_size,
                open_timeout=open_timeout,
                ping_interval=ping_interval,
                proxy=proxy,
                clock=clock,
            )
            try:
                await session._open()
            except BaseException:
                await session._shut()
                raise
            return session

        return Starter(open_, f"{cls.__name__}.start")

    async def _open(self) -> None:
        """Start the reader; return once the session is configured (or raise why not)."""
        self._reader = asyncio.get_running_loop().create_task(self._run())
        core = self._core
        while core.session is None:
            if self._reader.done() or core.ended:
                if self._failure is not None:
                    self._failure_seen = True
                    raise self._failure
                raise self._refusal or core.failure or StreamError("the session did not start")
            await self._waiters.wait()

    # -- what a caller reads -------------------------------------------------------------

    @property
    def token(self) -> str:
        """The session token (a secret: whoever holds it reads the conversation).
        ``MessagingSession.start(token=...)`` reattaches the session with it."""
        return self._core.token

    def save(self) -> str:
        """What reattaches this session elsewhere: its token, for
        ``MessagingSession.start(token=...)`` (with the same deployment and host).

        **A secret**: whoever holds it reads the conversation and writes in it as the
        guest. Store it as you would a password (the worker's encrypted store, not a log).
        """
        return self._core.token

    @property
    def capabilities(self) -> Capabilities:
        """What Web Messaging supports: attachments and rich content; no roster, no media
        requests (the same attribute as on :class:`~webchat_async.GuestSession`)."""
        return WEB_MESSAGING

    @property
    def ended(self) -> bool:
        """Whether the session is over (read-only, expired or closed)."""
        return self._core.ended

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._core.state.value
        return f"<MessagingSession {state} queued={self._core.queued()}>"

    # -- sends ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError("the session is closed")
        if self._failure is not None:
            raise self._failure

    async def send_message(
        self, text: str, custom_attributes: Mapping[str, str] | None = None
    ) -> StructuredMessage:
        """Send a text; return its echo once the service has stored it.

        Sends go out one at a time, in call order, at most 2 per second (the service's
        limit): a 4029 is waited out and the message sent again, so many sends started at
        once simply take longer. A send whose socket dropped before its echo is looked up
        in the history before it goes again: never lost, never doubled
        (docs/messaging-protocol.md#sends-across-drops). Cancelling the call while the
        message still waits for its turn takes it back (it is never sent); once its frame
        is out, it goes on (the service may have stored it already).

        Raises at once :class:`~webchat_async.errors.SessionReadOnlyError` (409) once the
        conversation has ended, :class:`~webchat_async.errors.SessionExpiredError` /
        ``SessionNotFoundError`` (4006 / 4007) once the session is gone,
        :class:`~webchat_async.errors.CustomAttributesTooLargeError` (4013) for attributes
        over the deployment's limit; later
        :class:`~webchat_async.errors.MessageTooLongError` (4011),
        :class:`~webchat_async.errors.MessageRateLimitError` (4029, refused again and
        again), or another :class:`~webchat_async.errors.MessagingError` with the code.
        """
        if not isinstance(text, str) or not text:
            raise ValueError("text: the message text must be a non-empty str")
        if custom_attributes is not None:
            if not isinstance(custom_attributes, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in custom_attributes.items()
            ):
                raise TypeError("custom_attributes must be a mapping of str to str")
            custom_attributes = dict(custom_attributes)
        self._check_open()
        send_id = self._core.send_text(text, self._clock(), custom_attributes)
        message = await self._completion(send_id)
        if message is None:  # pragma: no cover - a text always completes with its echo
            raise StreamError("the send completed without its echo")
        return message

    async def send_typing(self) -> None:
        """Show the guest as typing (at most one indicator per ``typing_interval``: calls
        in between return at once); raises like :meth:`send_message` after the end."""
        self._check_open()
        await self._completion(self._core.send_typing(self._clock()))

    @contextlib.asynccontextmanager
    async def typing(self, *, interval: float | None = None) -> AsyncIterator[None]:
        """Show the guest as typing while the block runs (as on
        :class:`~webchat_async.GuestSession`): an indicator at once (its errors are
        raised), then every ``interval`` seconds (default: the core's
        ``typing_interval``, 5 s); a later failure stops the repetition and is logged."""
        every = self._typing_interval if interval is None else interval
        if isinstance(every, bool) or not every > 0 or every == float("inf"):
            raise ValueError("interval must be a positive finite number")
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
            except WebChatError as exc:
                logger.debug("typing indicator failed, not repeating: %r", exc)
                return

    async def send_attachment(
        self,
        data: bytes,
        *,
        filename: str,
        content_type: str,
        text: str | None = None,
    ) -> StructuredMessage:
        """Send a file (and an optional ``text`` with it); return the message's echo.

        The file is checked first against the deployment's ``blockedExtensions`` and
        ``allowedMedia`` (type and size): a refusal raises
        :class:`~webchat_async.errors.AttachmentError` naming what was wrong, and nothing
        is sent. Then: an upload URL, the ``PUT`` of the bytes, the service's scan, and the
        message carrying it. An upload refused or failed raises ``AttachmentError`` with
        the service's code.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes")
        for name, value in (("filename", filename), ("content_type", content_type)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty str")
            check_no_controls(value, name)
        if text is not None and (not isinstance(text, str) or not text):
            raise ValueError("text must be a non-empty str or None")
        self._check_open()
        payload = bytes(data)
        send_id = self._core.send_attachment(
            filename, content_type, len(payload), self._clock(), text
        )
        self._uploads[send_id] = payload
        try:
            message = await self._completion(send_id)
        finally:
            self._uploads.pop(send_id, None)
        if message is None:  # pragma: no cover - a message always completes with its echo
            raise StreamError("the attachment completed without its echo")
        return message

    async def _completion(self, send_id: int) -> StructuredMessage | None:
        """Wait for send ``send_id`` to be done; raise why it failed."""
        future: asyncio.Future[StructuredMessage | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._sends[send_id] = future
        self._poke()
        try:
            return await future
        except asyncio.CancelledError:
            # Cancelled before it went out: it is not sent (as if never called). Once on
            # the wire it goes on: the service may already have stored it.
            self._core.withdraw(send_id)
            raise
        finally:
            self._sends.pop(send_id, None)

    # -- history -------------------------------------------------------------------------

    async def history(
        self, *, max_results: int | None = None
    ) -> AsyncIterator[MessageReceived[StructuredMessage]]:
        """The past messages of the conversation, newest first (as the service keeps
        them), page after page, each as a :class:`~webchat_async.MessageReceived`
        (``.text``, ``.message_id``, ``.from_guest``; the message itself on ``.message``).

        Reads with the session's current JWT; a session that has ended (read-only) can
        still read its history. Raises :class:`~webchat_async.errors.ApiError` when the
        service refuses the read.
        """
        if max_results is not None and (
            isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0
        ):
            raise ValueError("max_results must be an int >= 0 or None")
        if self._closed:
            raise SessionClosedError("the session is closed")
        while self._core.jwt is None:
            if self._reader is None or self._reader.done():
                raise SessionClosedError("the session has no history token (it is over)")
            await self._waiters.wait()
        size = self._page_size
        given = 0
        for number in range(1, _HISTORY_PAGES + 1):
            jwt = self._core.jwt
            if jwt is None:
                raise SessionClosedError("the session has no history token (it is over)")
            answer = await self._http.request(
                "GET",
                self._hosts.history_url,
                path="/api/v2/webmessaging/messages",
                params={"pageNumber": str(number), "pageSize": str(size)},
                headers={"Origin": self._origin},
                auth=BearerAuth(jwt, name="jwt"),
            )
            page = decode_page(answer.content)
            if page is None:
                raise StreamError("the history answer is not a page of messages")
            for message in page.entities:
                if max_results is not None and given >= max_results:
                    return
                given += 1
                yield MessageReceived(message, message.inbound)
            if page.last(number):
                return

    # -- events --------------------------------------------------------------------------

    def events(self) -> _EventIterator:
        """An async iterator of the events; several in turn continue one another. It stops
        after :class:`~webchat_async.ConversationEnded`.

        One consumer at a time: a second one reading while another waits raises
        :class:`~webchat_async.errors.ConcurrentIterationError`; every further consumer
        uses :meth:`subscribe`.
        """
        return _EventIterator(self)

    def subscribe(self, *, limit: int = DEFAULT_SUBSCRIBER_LIMIT) -> Subscription[AnyEvent]:
        """A copy of every event delivered from now on, for one more consumer; as
        :meth:`webchat_async.GuestSession.subscribe` (docs/events.md#several-consumers)."""
        return cast("Subscription[AnyEvent]", self._fanout.subscribe(limit))

    def _is_closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> _EventIterator:
        return _EventIterator(self)

    async def _next_event(self) -> Event:
        """The next event; cancelling the wait takes nothing out of the queue."""
        core = self._core
        while True:
            event = core.take()
            if event is not None:
                if self._paused:
                    self._poke()  # room again: the socket may be read
                return event
            if self._failure is not None:
                self._failure_seen = True
                raise self._failure
            if core.ended or self._closed or self._reader is None or self._reader.done():
                raise StopAsyncIteration
            await self._waiters.wait()

    def _poke(self) -> None:
        kick = self._kick
        if kick is not None and not kick.done():
            kick.set_result(None)

    # -- the reader ----------------------------------------------------------------------

    async def _run(self) -> None:
        """Feed the core and carry out its outputs until the session is over.

        The socket is read by its own task (:meth:`_read`), which moves every frame the
        websocket library has buffered into ``_frames`` without a task or a wait per frame;
        this loop feeds them to the core a batch at a time. It stops at a frame that gives
        the core work to carry out (a send, a close), so each output is carried out before
        the next frame is fed, exactly as if frames came one by one.
        """
        core = self._core
        frames = self._frames
        loop = asyncio.get_running_loop()
        tasks: dict[asyncio.Task[Any], Output] = {}
        reading: asyncio.Task[None] | None = None
        opening: asyncio.Task[ClientConnection] | None = None
        open_at: float | None = None  # loop time the next socket is due
        dropped: tuple[str, int | None] | None = None  # the read failed: after the frames
        try:
            core.start(self._clock())
            while True:
                # Armed before the outputs are carried out: a caller that queues a send
                # while a frame is being written finds it armed, and the wait below
                # returns at once for the new outputs.
                self._kick = kick = loop.create_future()
                for output in core.outputs():
                    if isinstance(output, SendFrame):
                        await self._send_frame(encode(output.action))
                    elif isinstance(output, OpenSocket):
                        open_at = loop.time() + output.delay
                    elif isinstance(output, CloseSocket):
                        # Frames read but not fed were still the socket's: gone with it.
                        frames.clear()
                        dropped = None
                        if reading is not None:
                            await cancel_and_wait(reading)
                            reading = None
                        await self._drop(output.reason, None)
                    elif isinstance(output, FetchHistory):
                        tasks[loop.create_task(self._page(output))] = output
                    elif isinstance(output, PutAttachment):
                        tasks[loop.create_task(self._upload(output))] = output
                    else:
                        self._complete(output)
                self._waiters.wake()
                if core.ended and self._ws is None:
                    self._kick = None
                    break
                if dropped is not None and not frames:
                    reason, code = dropped
                    dropped = None
                    await self._drop(reason, code)
                    continue  # the drop's outputs first
                if open_at is not None and opening is None and loop.time() >= open_at:
                    open_at = None
                    opening = loop.create_task(self._connect())
                ws = self._ws
                self._paused = False
                if reading is None and ws is not None and dropped is None:
                    if self._room():
                        reading = loop.create_task(self._read(ws))
                    else:
                        self._paused = True  # a consumer's take pokes the loop
                if frames:
                    done: set[asyncio.Future[Any]] = set()  # fed below, without a wait
                else:
                    waiting: set[asyncio.Future[Any]] = {kick, *tasks}
                    if reading is not None:
                        waiting.add(reading)
                    if opening is not None:
                        waiting.add(opening)
                    timeout = self._timeout(loop, open_at if opening is None else None)
                    try:
                        done, _ = await asyncio.wait(
                            waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        self._kick = None
                        kick.cancel()
                if opening is not None and opening in done:
                    finished, opening = opening, None
                    self._opened(finished)
                if reading is not None and reading.done():
                    finished_read, reading = reading, None
                    dropped = self._read_ended(finished_read)
                for task in [t for t in done if t in tasks]:
                    self._answered(tasks.pop(task), task)
                now = self._clock()
                if frames:
                    # The core's timed work once per batch, not per frame.
                    while frames:
                        if core.frame_received(decode_frame(frames.popleft()), now, pump=False):
                            break  # its outputs first, or the end
                    core.advance(now)
                else:
                    deadline = core.deadline()
                    if deadline is not None and now >= deadline:
                        core.advance(now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("Web Messaging session failed: %r", exc)
            self._failure = exc
        finally:
            self._kick = None
            pending = [*tasks, *(t for t in (reading, opening) if t is not None)]
            for task in pending:
                await cancel_and_wait(task)
            frames.clear()
            await self._close_socket()
            error = self._failure or core.failure or SessionClosedError("the session is closed")
            for future in self._sends.values():
                if not future.done():
                    future.set_exception(error)
            self._waiters.wake()

    async def _read(self, ws: ClientConnection) -> None:
        """Move frames from the socket to ``_frames`` while there is room for them.

        Returns when there is none (the driver starts it again once the consumer has
        taken events); raises what the socket raised when it dropped. ``recv`` returns at
        once while the library holds frames, so a burst is moved in one go.
        """
        frames = self._frames
        while self._room():
            # Bytes: decode_frame checks the UTF-8 as it parses (no str made and re-encoded).
            frames.append(await ws.recv(decode=False))
            kick = self._kick
            if kick is not None and not kick.done():
                kick.set_result(None)

    def _read_ended(self, task: asyncio.Task[None]) -> tuple[str, int | None] | None:
        """Why the read of the socket ended: ``None`` for no room, else the drop."""
        try:
            task.result()
        except (ConnectionClosed, OSError) as exc:
            reason, code = close_info(exc)
            logger.info("Web Messaging socket dropped: %s (code %s)", reason, code)
            return reason, code
        return None

    def _room(self) -> bool:
        """Whether to read the next frame, given the events the consumer has not taken.

        Up to ``queue_size``, always. Beyond it, only while a send waits for its echo or
        the session is not live (configuring, syncing): a caller that sends without ever
        reading events must not wait for ever for an echo left unread. Never beyond twice
        ``queue_size``: then the websocket library's buffer and TCP hold the service back.
        """
        queued = self._core.queued() + len(self._frames)
        if queued < self._queue_size:
            return True
        busy = bool(self._sends) or self._core.state is not State.LIVE
        return busy and queued < 2 * self._queue_size

    def _timeout(self, loop: asyncio.AbstractEventLoop, open_at: float | None) -> float | None:
        """Seconds until the core's deadline or the next socket, whichever is first."""
        waits: list[float] = []
        deadline = self._core.deadline()
        if deadline is not None:
            waits.append(deadline - self._clock())
        if open_at is not None:
            waits.append(open_at - loop.time())
        return max(min(waits), 0.0) if waits else None

    async def _send_frame(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            return  # the socket is gone; the core learns it from the read
        try:
            await ws.send(text)
        except (ConnectionClosed, OSError):
            pass  # the pending read reports the drop

    async def _connect(self) -> ClientConnection:
        return await open_socket(
            self._hosts.socket_url,
            origin=self._origin,
            open_timeout=self._open_timeout,
            ping_interval=self._ping_interval,
            ping_timeout=2 * self._ping_interval,
            proxy=self._proxy,
        )

    def _opened(self, task: asyncio.Task[ClientConnection]) -> None:
        core = self._core
        try:
            ws = task.result()
        except Refused as exc:
            self._refusal = exc.error
            logger.warning("Web Messaging handshake refused: %s", exc)
            core.socket_failed(self._clock(), str(exc), final=True)
            return
        except SocketFailed as exc:
            logger.info("Web Messaging socket failed: %s", exc)
            core.socket_failed(self._clock(), str(exc))
            return
        if core.ended:
            ws.transport.abort()
            return
        self._ws = ws
        core.socket_opened(self._clock())

    async def _drop(self, reason: str, code: int | None) -> None:
        """The socket is gone (or is to go): close it and tell the core."""
        await self._close_socket()
        self._core.socket_dropped(self._clock(), reason, code)

    async def _close_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            # Abort: the peer is gone, or the session is over; a closing handshake could
            # hold the reconnect for the close timeout.
            ws.transport.abort()
            await ws.wait_closed()

    async def _page(self, request: FetchHistory) -> Any:
        return await fetch_page(self._http, self._hosts.history_url, self._origin, request)

    async def _upload(self, request: PutAttachment) -> bool:
        data = self._uploads.get(request.send_id)
        if data is None:
            return False
        return await upload(
            self._http, request.url, dict(request.headers), data, self._hosts.insecure_ok
        )

    def _answered(self, output: Output, task: asyncio.Task[Any]) -> None:
        now = self._clock()
        if isinstance(output, FetchHistory):
            self._core.history_received(output, task.result(), now)
        elif isinstance(output, PutAttachment):
            self._core.upload_finished(output.send_id, output.attachment_id, task.result(), now)

    def _complete(self, output: SendDone | SendFailed) -> None:
        future = self._sends.get(output.send_id)
        if future is None or future.done():
            return  # the caller was cancelled: the send went on without it
        if isinstance(output, SendDone):
            future.set_result(output.message)
        else:
            future.set_exception(output.error)

    # -- closing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the reader, close the socket and the HTTP client the session created.

        The conversation goes on: ``MessagingSession.start(token=session.token)``
        reattaches it. Idempotent. Raises the error that stopped the reader if no caller
        has seen it.
        """
        if self._closed:
            return
        self._closed = True
        if not self._core.ended:
            self._core.close(self._clock())
        await self._shut()
        if self._failure is not None and not self._failure_seen:
            self._failure_seen = True
            raise self._failure

    async def _shut(self) -> None:
        self._closed = True
        reader, self._reader = self._reader, None
        try:
            if reader is not None:
                await cancel_and_wait(reader)
            await self._close_socket()
        finally:
            for future in self._sends.values():
                if not future.done():
                    future.set_exception(SessionClosedError("the session is closed"))
            self._waiters.wake()
            await self._http.aclose()

    def __del__(self) -> None:
        # A warning only (a finalizer schedules no work); the token is a secret, so the
        # session is named by where it talks to.
        if not getattr(self, "_closed", True):
            warnings.warn(
                f"MessagingSession on {self._hosts.socket_url} was never closed: use "
                "`async with MessagingSession.start(...) as session:` or "
                "`await session.aclose()`",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

    async def __aenter__(self) -> MessagingSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await close_on_exit(self.aclose, exc, logger)
