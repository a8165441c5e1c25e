"""The guest event stream: one websocket to ``eventStreamUri``, kept alive and reattached.

:class:`EventStream` is driven by its owner (the session's single reader task): each
:meth:`EventStream.receive` reads the next meaningful event. Keepalive costs one timer per
socket (no task of its own beyond the websocket library's ping task, no timeout per read):

* any traffic counts as a sign of life: frames, the server's heartbeat (about every 30 s),
  and the RFC 6455 pongs;
* when nothing arrives for ``ping_interval`` seconds while the owner waits for a frame, a
  ``{"message": "ping"}`` text frame and a protocol-level ping are sent; when nothing
  arrives for ``dead_peer_timeout`` more seconds, the peer is declared dead and the socket
  aborted. The defaults (20 + 30 s) put that above 1.5x the heartbeat interval
  (docs/protocol.md, "What the documents leave open"). While the owner is busy elsewhere
  silence is not held against the peer;
* the websocket library's own keepalive is off: it could drop a socket whose frames
  merely wait unread.

When the socket drops (abnormal close, dead peer, network error, ``v2.system.socket_closing``,
or even a clean close 1000: the owner stops reading once the guest's conversation has ended,
so any close it sees while still reading is one to recover from), :meth:`receive` returns
:class:`~webchat_async._events.StreamDisconnected`; the next call reconnects to the same URI
with exponential backoff and jitter and returns
:class:`~webchat_async._events.StreamReconnected`. A refused handshake with 401 or 403 is
final (:class:`~webchat_async.errors.AuthenticationError`,
:class:`~webchat_async.errors.PermissionDeniedError`), and so is staying detached longer
than ``max_reconnect_window``: the service removes a member detached for about two minutes
(docs/protocol.md#reconnecting), after which :class:`~webchat_async.errors.StreamError` is raised.

A frame is at most :data:`~webchat_async._events.MAX_FRAME_SIZE` bytes (1 MiB; a message
body is at most 4,000 characters). The websocket library reads a frame's length from its
header and refuses a longer one before reading its payload: it closes the socket with
1009, and :meth:`EventStream.receive` returns ``StreamDisconnected("frame too large",
1009)``; the session reconnects and reads what it missed from the messages endpoint, as
for any drop (docs/protocol.md, "Unknown: oversize frames"). Per-message compression is
not negotiated, so no frame is ever inflated (a compressed frame is a protocol error, and
a drop too). At most ``max_queue`` frames wait unread, so a socket holds at most
``max_queue`` x 1 MiB.

The URI embeds the guest JWT: it is never logged, shown in a repr or put in an exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from ._aio import cancel_and_wait
from ._backoff import Backoff
from ._events import (
    MAX_FRAME_SIZE,
    Event,
    SocketClosing,
    StreamDisconnected,
    StreamReconnected,
    decode_frame,
)
from ._redact import RedactingFilter, clip
from ._validate import check_stream_uri
from ._websocket import TOO_LARGE, Connection, close_info
from .errors import (
    AuthenticationError,
    HandshakeRefused,
    PermissionDeniedError,
    SessionClosedError,
    StreamError,
)

__all__ = ["EventStream"]

logger = logging.getLogger("webchat_async.stream")

PING_FRAME = '{"message":"ping"}'


# The logger handed to websockets, which logs the request line (carrying the JWT); its own
# filter masks every record before any handler sees it.
_ws_logger = logging.getLogger("webchat_async.stream.websocket")
_ws_logger.addFilter(RedactingFilter())


class _Retryable(Exception):
    """A connection attempt failed in a way worth another attempt."""


class EventStream:
    """The websocket at ``eventStreamUri``, with keepalive and automatic reattachment.

    Args:
        uri: ``eventStreamUri`` exactly as the service returned it (a secret).
        backoff: the reconnection schedule.
        ping_interval: seconds of silence before a ping is sent.
        dead_peer_timeout: seconds after a ping without any frame before the socket is
            considered dead.
        max_reconnect_window: seconds without a socket after which reconnecting stops.
        open_timeout: seconds allowed for one handshake.
        close_timeout: seconds allowed for a closing handshake.
        max_queue: frames the websocket library buffers before it stops reading the
            socket (backpressure).
        proxy: passed to :func:`websockets.asyncio.client.connect` (``True``: from the
            environment; ``None``: none).
        allow_insecure: accept plain ``ws://`` to a host other than loopback (the guest
            JWT in the URI would travel in clear text).
        clock: a monotonic clock (injectable for tests).
        sleep: the coroutine used to wait between attempts (injectable for tests).
    """

    def __init__(
        self,
        uri: str,
        *,
        backoff: Backoff | None = None,
        ping_interval: float = 20.0,
        dead_peer_timeout: float = 30.0,
        max_reconnect_window: float = 120.0,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        max_queue: int = 16,
        proxy: str | Literal[True] | None = True,
        allow_insecure: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._uri = check_stream_uri(uri, allow_insecure=allow_insecure)
        self._backoff = backoff if backoff is not None else Backoff()
        self._ping_interval = ping_interval
        self._dead_peer_timeout = dead_peer_timeout
        self._max_window = max_reconnect_window
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._max_queue = max_queue
        self._proxy = proxy
        self._clock = clock
        self._sleep = sleep
        self._ws: ClientConnection | None = None
        self._down_since: float | None = None
        self._closed = False
        # Set by the first attach: the stream belongs to the loop it was connected in.
        self._loop: asyncio.AbstractEventLoop
        self._watchdog: asyncio.TimerHandle | None = None
        self._ping_task: asyncio.Task[None] | None = None
        self._last_frame = 0.0
        self._pinged_at: float | None = None
        self._dead = False
        self._reading = False
        #: Sockets opened so far (the first attach included).
        self.connections = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._ws is not None else "detached"
        return f"<EventStream {state} connections={self.connections}>"

    @property
    def connected(self) -> bool:
        """Whether a socket is attached right now."""
        return self._ws is not None

    async def connect(self) -> int:
        """Attach the first socket (retrying like a reconnect); return the attempts it took.

        Raises:
            AuthenticationError, PermissionDeniedError: the handshake was refused (final).
            StreamError: no socket within ``max_reconnect_window``.
        """
        if self._ws is not None:
            return 0
        self._down_since = self._clock()
        return await self._attach()

    async def receive(self) -> Event:
        """The next event: a decoded frame, or a StreamDisconnected / StreamReconnected.

        Heartbeats and pongs are consumed here. Raises like :meth:`connect` when
        reattaching fails for good, and :class:`SessionClosedError` after :meth:`aclose`.
        """
        while True:
            if self._closed:
                raise SessionClosedError("the event stream is closed")
            ws = self._ws
            if ws is None:
                down_since = self._down_since if self._down_since is not None else self._clock()
                attempts = await self._attach()
                return StreamReconnected(attempts=attempts, downtime=self._clock() - down_since)
            # The read, inline (not a coroutine of its own: one frame less per event).
            # _reading tells the watchdog that the owner waits for the peer.
            self._reading = True
            try:
                frame = await ws.recv(decode=False)
            except (ConnectionClosed, OSError) as exc:
                lost: ConnectionClosed | OSError | None = exc
            else:
                lost = None
            finally:
                self._reading = False
            if lost is not None:
                reason, code = self._drop_info(lost)
                await self._detach(ws)
                if reason == TOO_LARGE:
                    logger.warning(
                        "event stream: a frame over %d bytes was refused unread (1009); "
                        "reconnecting",
                        MAX_FRAME_SIZE,
                    )
                else:
                    logger.info("event stream dropped: %s (code %s)", reason, code)
                return StreamDisconnected(reason, code)
            self._last_frame = self._loop.time()
            event = decode_frame(frame)
            if event is None:
                continue
            if isinstance(event, SocketClosing):
                await self._detach(ws)
                logger.info("event stream: server announced socket closing")
                return StreamDisconnected("socket closing")
            return event

    async def aclose(self) -> None:
        """Close the socket (idempotent). The transport is released even when the closing
        handshake is cancelled or fails (a peer that never answers the close frame)."""
        self._closed = True
        ws, self._ws = self._ws, None
        try:
            await self._stop_watchdog()
            if ws is not None:
                await ws.close()
        finally:
            if ws is not None and not ws.transport.is_closing():
                ws.transport.abort()

    def _drop_info(self, exc: ConnectionClosed | OSError) -> tuple[str, int | None]:
        """What the StreamDisconnected for a failed read says."""
        if isinstance(exc, ConnectionClosed) and self._dead:
            return "dead peer", None
        return close_info(exc)

    # Keepalive: one timer per socket, re-armed lazily, instead of a timeout around every
    # read (a frame then costs one clock read, not a timer of its own).

    def _start_watchdog(self, ws: ClientConnection) -> None:
        self._last_frame = self._loop.time()
        self._pinged_at = None
        self._dead = False
        self._watchdog = self._loop.call_at(
            self._last_frame + self._ping_interval, self._check_alive, ws
        )

    def _check_alive(self, ws: ClientConnection) -> None:
        if ws is not self._ws:
            return
        now = self._loop.time()
        if not self._reading:
            # The owner is busy (a backfill, a slow REST call for a member): frames wait
            # unread, so silence says nothing about the peer. Judge again later.
            self._last_frame = now
            self._pinged_at = None
            self._watchdog = self._loop.call_at(now + self._ping_interval, self._check_alive, ws)
            return
        pinged_at = self._pinged_at
        if pinged_at is not None and self._last_frame < pinged_at:
            # Nothing at all since the ping, for dead_peer_timeout: the peer is gone.
            # Aborting makes the pending read fail; _read reports it as a dead peer.
            logger.info("event stream: no frame %.1f s after a ping", now - pinged_at)
            self._dead = True
            ws.transport.abort()
            return
        idle_until = self._last_frame + self._ping_interval
        if now < idle_until:
            self._pinged_at = None
            self._watchdog = self._loop.call_at(idle_until, self._check_alive, ws)
            return
        self._pinged_at = now
        previous = self._ping_task
        if previous is not None and not previous.done():
            previous.cancel()  # its pong never came; the verdict is the watchdog's
        self._ping_task = self._loop.create_task(self._ping(ws))
        self._watchdog = self._loop.call_at(now + self._dead_peer_timeout, self._check_alive, ws)

    async def _ping(self, ws: ClientConnection) -> None:
        # The text ping (answered by a pong frame, if the service does) and an RFC 6455
        # ping: its pong counts as traffic too (docs/protocol.md, "What the documents
        # leave open": the text pong is not confirmed for guests).
        try:
            await ws.send(PING_FRAME)
            pong = await ws.ping()
            await pong
        except (ConnectionClosed, OSError):
            return  # the read notices the closed socket
        if ws is self._ws:
            self._last_frame = self._loop.time()

    async def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        task, self._ping_task = self._ping_task, None
        if task is not None and not task.done():
            await cancel_and_wait(task)

    async def _detach(self, ws: ClientConnection) -> None:
        self._ws = None
        self._down_since = self._clock()
        await self._stop_watchdog()
        # Abort rather than close: the peer is dead, gone, or about to close anyway, and
        # a closing handshake could stall the reconnect for close_timeout.
        ws.transport.abort()
        await ws.wait_closed()

    async def _attach(self) -> int:
        self._loop = asyncio.get_running_loop()
        start = self._down_since if self._down_since is not None else self._clock()
        attempt = 0
        while True:
            attempt += 1
            # The first attempt is not a retry (the one backoff rule): it does not wait.
            delay = self._backoff.delay(attempt - 1)
            if attempt > 1 and self._clock() + delay - start > self._max_window:
                raise StreamError(
                    f"the event stream could not be reattached within {self._max_window:g} s "
                    f"({attempt - 1} attempts); the service has removed the guest"
                )
            if delay > 0:
                await self._sleep(delay)
            if self._closed:
                raise SessionClosedError("the event stream is closed")
            try:
                self._ws = ws = await self._open()
            except _Retryable as exc:
                logger.info("event stream attempt %d failed: %s", attempt, exc)
                continue
            self._start_watchdog(ws)
            self._down_since = None
            self.connections += 1
            return attempt

    async def _open(self) -> ClientConnection:
        try:
            ws = await connect(
                self._uri,
                # Frames are small JSON; per-message deflate would cost far more memory per
                # idle socket (zlib state) than it saves in bandwidth.
                compression=None,
                max_size=MAX_FRAME_SIZE,
                max_queue=self._max_queue,
                # No keepalive of the library's own: it could drop a socket whose frames
                # wait unread. Ours (below) sends both pings and counts any traffic.
                ping_interval=None,
                ping_timeout=None,
                open_timeout=self._open_timeout,
                close_timeout=self._close_timeout,
                proxy=self._proxy,
                logger=_ws_logger,
                create_connection=Connection,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            message = f"event stream handshake refused with HTTP {status}"
            if status == 401:
                raise AuthenticationError(401, message=message) from None
            if status == 403:
                raise PermissionDeniedError(403, message=message) from None
            if 400 <= status < 500 and status not in (408, 429):
                raise HandshakeRefused(status) from None
            raise _Retryable(message) from None
        except InvalidURI:
            raise StreamError("eventStreamUri is not a valid websocket URI") from None
        except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
            raise _Retryable(clip(f"{type(exc).__name__}: {exc}")) from None
        # The handshake's headers would stay with the socket for its lifetime (~4 KB per
        # idle session, issue 11) and nothing reads them after the handshake. The response
        # itself stays: websockets takes the first event for it while it is None.
        ws.request = None
        if ws.response is not None:
            ws.response.headers.clear()
        return ws
