"""The websocket connection both protocols read from: websockets', with a lean read path.

websockets does the opening handshake (TLS, proxies, the ``Sec-WebSocket-Accept``
check), every write, pings and pongs, the closing handshake and every protocol error. What
it costs per frame on the read side, its generator-based parser, a ``Frame`` object, the
assembler's queue and two coroutines, is about 5 us per frame on a 2-core machine, more
than ``json.loads`` of the frame; a burst of a few hundred small frames arrives in one
read. So once the socket is open, :class:`Connection` splits what arrives itself with
:func:`split_frames` (a pure function: text frames that are whole and unfragmented, the
only frames the services send for data) and queues their payloads as ``bytes``.

Everything else goes to websockets, so its behaviour is unchanged:

* a control frame (ping, pong, close) is handed to it whole, on its own; websockets'
  parser, fed nothing else since the handshake, is then at a frame boundary again and
  answers the ping, resolves the pong or closes as it always did;
* anything the split does not take (a fragment, a binary frame, a frame over ``max_size``,
  a reserved bit, opcode or mask) hands the rest of the stream to websockets for good,
  from the first byte of that frame on. Its errors (1002, 1009) are then its own, as are
  any frames after it. Payloads already queued are read first, so the order holds.

The read path stops reading the socket once ``max_queue`` payloads wait (what one read
brought is queued whole, as websockets does) and resumes at a quarter of that; it holds at
most one incomplete frame (under ``max_size``), accumulated without re-scanning, so a
server that trickles a frame byte by byte costs linear time.

:func:`close_info` says why a socket dropped, for both sessions' ``StreamDisconnected``.

Hostile servers: after websockets fails a connection on what it read, or after a close
frame of the server's, the socket is aborted rather than left open for the peer to keep
streaming (see :class:`Connection`).
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import AsyncIterator
from typing import Final, Literal, overload

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConcurrencyError, ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State

__all__ = ["CONTROL", "HAND_OVER", "MORE", "TOO_LARGE", "Connection", "close_info", "split_frames"]

#: :func:`split_frames` stopped at a frame that is not complete yet.
MORE: Final = 0
#: :func:`split_frames` stopped at a whole control frame (ping, pong, close).
CONTROL: Final = 1
#: :func:`split_frames` stopped at a frame it does not take: websockets reads the rest.
HAND_OVER: Final = 2

#: The reason of a drop after a frame over ``max_size`` (refused from its header, unread).
TOO_LARGE: Final = "frame too large"

_TEXT_FIN: Final = 0x81  # FIN, no reserved bits, opcode 1 (text)
_CONTROL_FIN: Final = frozenset({0x88, 0x89, 0x8A})  # FIN + close, ping, pong
_LENGTH_64 = struct.Struct("!Q")


def split_frames(buf: bytes, pos: int, max_size: int, out: deque[bytes]) -> tuple[int, int, int]:
    """Append to ``out`` the payloads of the whole, unmasked, unfragmented text frames of
    ``buf`` from ``pos`` on, up to the first frame that is anything else.

    Returns ``(pos, stop, end)``: ``pos`` is where that frame starts; ``stop`` says why it
    stopped, with ``end``:

    * :data:`MORE`: the frame is incomplete; ``end`` is the length ``buf`` must reach
      before the frame can be read (a lower bound while its header is incomplete);
    * :data:`CONTROL`: a whole control frame (ping, pong or close, with ``FIN`` and a
      payload of at most 125 bytes) ends at ``end``;
    * :data:`HAND_OVER`: anything else (``end`` is ``len(buf)``).
    """
    n = len(buf)
    append = out.append
    while True:
        if n - pos < 2:
            return pos, MORE, pos + 2
        first = buf[pos]
        length = buf[pos + 1]  # a mask bit (never from a server) makes this >= 128
        if length < 126:
            start = pos + 2
        elif length == 126:
            if n - pos < 4:
                return pos, MORE, pos + 4
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            start = pos + 4
        elif length == 127:
            if n - pos < 10:
                return pos, MORE, pos + 10
            (length,) = _LENGTH_64.unpack_from(buf, pos + 2)
            start = pos + 10
        else:
            return pos, HAND_OVER, n
        if first == _TEXT_FIN:
            if length > max_size:
                return pos, HAND_OVER, n
            end = start + length
            if end > n:
                return pos, MORE, end
            append(buf[start:end])
            pos = end
        elif first in _CONTROL_FIN and length <= 125:
            end = start + length
            if end > n:
                return pos, MORE, end
            return pos, CONTROL, end
        else:
            return pos, HAND_OVER, n


class _Reading:
    """The read path's state for one connection."""

    __slots__ = ("head", "high", "lean", "max_size", "need", "partial", "paused", "ready", "waiter")

    def __init__(self, high: int, max_size: int) -> None:
        self.ready: deque[bytes] = deque()
        # What arrived of the handshake's response, to split at its end; None after it.
        self.head: bytearray | None = bytearray()
        # The read path is ours from the handshake's end until a hand-over.
        self.lean = False
        self.partial: bytearray | None = None  # an incomplete frame's bytes
        self.need = 0  # the length partial must reach before it is split again
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.high = high  # payloads queued before reading stops (max_queue)
        self.max_size = max_size


class Connection(ClientConnection):
    """websockets' client connection with the read path above, which also does not wait
    for a hostile server to close.

    After websockets fails a connection on what it read (a frame over ``max_size``, a
    protocol error) it sends a close frame, then reads and discards everything until the
    server closes TCP; it enforces ``close_timeout`` only when something is sent. A server
    that goes on streaming (the rest of a 200 MB frame, or forever) would keep the read
    waiting, and the session with it, until a keepalive gave up. Here such a socket is
    aborted at once; after a close frame of the server's, at the close deadline.

    Both sessions call ``recv(decode=False)`` and parse the UTF-8 themselves; otherwise
    :meth:`recv` decodes, and a text frame that is not UTF-8 fails the connection with
    1007, as websockets does.
    """

    _close_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        high = getattr(self.recv_messages, "high", None)
        # websockets refuses a frame over the smaller of its two limits (message, fragment)
        limits = [
            limit
            for name in ("max_message_size", "max_fragment_size", "max_size")
            if isinstance(limit := getattr(self.protocol, name, None), int)
        ]
        # One attribute: websockets' connection has ~26, and CPython shares an instance
        # dict's keys among instances only up to ~30 of them (past it, ~1.3 KiB more per
        # idle socket).
        self._rd = _Reading(
            high if isinstance(high, int) and high > 0 else 16, min(limits, default=2**63)
        )

    # -- what arrives -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        rd = self._rd
        if rd.lean:
            partial = rd.partial
            if partial is not None:
                partial += data
                if len(partial) < rd.need:
                    return
                data = bytes(partial)
                rd.partial = None
            self._split(data)
        elif (head := rd.head) is not None and self.protocol.state is State.CONNECTING:
            self._handshake(head, data)
        else:
            self._to_websockets(data)

    def _handshake(self, head: bytearray, data: bytes) -> None:
        """Feed websockets the response up to its blank line, and nothing of what follows
        it (a 101 response has no body), so its parser ends at a frame boundary."""
        rd = self._rd
        seen = len(head)
        head += data
        end = head.find(b"\r\n\r\n", max(0, seen - 3))
        if end < 0:
            if len(head) > 65536:  # not a response we split; websockets refuses it
                rd.head = None
                self._wake()
                self._to_websockets(bytes(head))
            return
        rd.head = None
        rest = bytes(head[end + 4 :])
        self._to_websockets(bytes(head[: end + 4]))
        if self.protocol.state is State.OPEN:
            rd.lean = True
            if rest:
                self._split(rest)
        else:
            self._wake()  # a recv waiting since before the response is websockets' now
            if rest:
                self._to_websockets(rest)  # a refusal's body: websockets reads it

    def _split(self, buf: bytes) -> None:
        rd = self._rd
        ready = rd.ready
        before = len(ready)
        pos = 0
        while True:
            pos, stop, end = split_frames(buf, pos, rd.max_size, ready)
            if stop == CONTROL:
                self._to_websockets(buf[pos:end])
                pos = end
                if self.protocol.state is not State.OPEN:
                    self._hand_over(buf[pos:])
                    break
                continue
            if stop == MORE:
                if pos < len(buf):
                    rd.partial = bytearray(buf[pos:])
                    rd.need = end - pos
            else:
                self._hand_over(buf[pos:])
            break
        if len(ready) > before:
            if len(ready) >= rd.high and not rd.paused:
                rd.paused = True
                self.transport.pause_reading()
            self._wake()

    def _hand_over(self, rest: bytes) -> None:
        """websockets reads everything from here on."""
        rd = self._rd
        rd.lean = False
        rd.partial = None
        self._wake()
        if rest:
            self._to_websockets(rest)

    def _to_websockets(self, data: bytes) -> None:
        super().data_received(data)
        if getattr(self.protocol, "parser_exc", None) is not None:
            self.transport.abort()  # the close frame is queued; nothing more is read
            return
        deadline = self.close_deadline
        if deadline is not None and self._close_timer is None:
            self._close_timer = self.loop.call_at(deadline, self.transport.abort)

    def _wake(self) -> None:
        rd = self._rd
        waiter = rd.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        rd = self._rd
        if self._close_timer is not None:
            self._close_timer.cancel()
        rd.lean = False
        rd.head = None
        self._wake()
        super().connection_lost(exc)

    # -- what is read -------------------------------------------------------------------

    @overload
    async def recv(self, decode: Literal[True]) -> str: ...

    @overload
    async def recv(self, decode: Literal[False]) -> bytes: ...

    @overload
    async def recv(self, decode: bool | None = None) -> str | bytes: ...

    async def recv(self, decode: bool | None = None) -> str | bytes:
        """The next frame's payload, in order; raises ``ConnectionClosed`` like websockets
        once nothing is left."""
        rd = self._rd
        if rd.waiter is not None:
            raise ConcurrencyError(
                "cannot call recv while another coroutine is already running recv or recv_streaming"
            )
        ready = rd.ready
        while not ready:
            # Until the handshake's end it is not known who reads the frames: wait.
            if not rd.lean and rd.head is None:
                return await super().recv(decode)
            waiter = rd.waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                rd.waiter = None
        data = ready.popleft()
        if rd.paused and len(ready) <= rd.high // 4:
            rd.paused = False
            # After a hand-over websockets' queue may hold more than max_queue frames, and
            # then it resumes reading itself once it is short.
            if rd.lean or not self.recv_messages.paused:
                self.transport.resume_reading()
        if decode is False:
            return data
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            # websockets' recv: fail the connection (1007), discard what follows, raise
            # ConnectionClosedError once closed. What is queued stays readable, as there.
            rd.lean = False
            rd.partial = None
            set_exc = getattr(self, "set_connection_exc", None)  # websockets 16+
            if set_exc is not None:
                set_exc(exc)
            async with self.send_context():
                self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            await asyncio.shield(self.connection_lost_waiter)
            if set_exc is None:  # websockets 15: the cause is what it read and failed on
                raise self.protocol.close_exc from getattr(self, "recv_exc", None)
        raise self.close_exc

    @overload
    def recv_streaming(self, decode: Literal[True]) -> AsyncIterator[str]: ...

    @overload
    def recv_streaming(self, decode: Literal[False]) -> AsyncIterator[bytes]: ...

    @overload
    def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[str | bytes]: ...

    async def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[str | bytes]:
        """The next message in fragments, in order: a frame of the read path above is
        whole, one fragment; once websockets reads, its fragments as they arrive."""
        rd = self._rd
        if rd.ready or rd.lean or rd.head is not None:
            yield await self.recv(decode)
            return
        async for fragment in super().recv_streaming(decode):
            yield fragment


def close_info(exc: ConnectionClosed | OSError) -> tuple[str, int | None]:
    """Why a socket dropped, for ``StreamDisconnected``: its reason and close code."""
    if isinstance(exc, OSError):
        return f"network error: {type(exc).__name__}", None
    if exc.rcvd is not None:
        code = exc.rcvd.code
        return ("closed" if code == 1000 else "abnormal close"), code
    if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
        return TOO_LARGE, int(CloseCode.MESSAGE_TOO_BIG)
    if exc.sent is not None and "keepalive" in exc.sent.reason:
        # The websocket-level ping went unanswered: the same verdict as a watchdog's.
        return "dead peer", None
    return "connection lost", None
