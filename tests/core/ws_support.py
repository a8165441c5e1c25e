"""Helpers of the websocket read-path tests: server frames built by hand, a fake
transport, a handshake without a socket, and the client's writes parsed back."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame
from websockets.streams import StreamReader
from websockets.uri import parse_uri
from websockets.utils import accept_key

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # one key for every connection: the same response bytes
RESPONSE = (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Accept: {accept_key(KEY)}\r\n\r\n"
).encode()


def frame(first: int, payload: bytes = b"", *, form: str = "min", masked: bool = False) -> bytes:
    """A frame with any first byte, length encoding (``min``, ``16``, ``64``) and mask
    bit; ``Frame.serialize`` refuses the odd ones."""
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if form == "min" and n < 126:
        head = bytes([first, mask_bit | n])
    elif form in ("min", "16") and n < 65536:
        head = bytes([first, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack("!Q", n)
    if masked:
        return head + b"\x00\x00\x00\x00" + payload  # a zero key: the payload as it is
    return head + payload


def pattern(size: int, tag: int) -> bytes:
    """``size`` bytes that differ from one ``tag`` to the next."""
    base = bytes(range(256)) * (size // 256 + 2)
    start = tag % 256
    return base[start : start + size]


class FakeTransport(asyncio.Transport):
    """Records what a connection does to its transport; reads stop once aborted."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.reading = True
        self.pauses = 0
        self.resumes = 0
        self.aborted = False
        self.closed = False
        self.eof_written = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def pause_reading(self) -> None:
        # asyncio's transports ignore a second pause or a resume while reading
        if self.reading:
            self.reading = False
            self.pauses += 1

    def resume_reading(self) -> None:
        if not self.reading:
            self.reading = True
            self.resumes += 1

    def is_reading(self) -> bool:
        return self.reading

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.aborted or self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class PlainConnection(ClientConnection):
    """websockets alone, plus the one rule :class:`Connection` adds: a parser error
    aborts the socket."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.protocol.parser_exc is not None:
            self.transport.abort()


def opened(
    cls: type[ClientConnection],
    *,
    max_size: int | tuple[int | None, int | None] | None = 2**20,
    max_queue: int | None = 16,
) -> tuple[Any, FakeTransport]:
    """A connection of ``cls`` on a fake transport, its request sent, the response not
    yet received (feed :data:`RESPONSE`)."""
    protocol = ClientProtocol(parse_uri("ws://h/"), max_size=max_size)
    protocol.key = KEY
    conn = cls(
        protocol, max_queue=max_queue, ping_interval=None, ping_timeout=None, close_timeout=10
    )
    transport = FakeTransport()
    conn.connection_made(transport)
    conn.request = protocol.connect()
    protocol.send_request(conn.request)
    conn.send_data()
    transport.writes.clear()  # the request: what is compared is the frames after it
    return conn, transport


def client_frames(writes: Sequence[bytes]) -> list[tuple[int, bytes, bool]]:
    """The frames the client wrote, unmasked, as (opcode, payload, fin)."""
    reader = StreamReader()
    reader.feed_data(b"".join(writes))
    out = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=True)
        try:
            next(parser)
        except StopIteration as done:
            f = done.value
            out.append((int(f.opcode), bytes(f.data), f.fin))
        else:
            raise AssertionError("a partial frame written")
    return out


async def drain(
    conn: ClientConnection, decode: bool | None = False
) -> tuple[list[str | bytes], ConnectionClosed]:
    """Every payload ``recv`` returns, then the ConnectionClosed it raises."""
    out: list[str | bytes] = []
    while True:
        try:
            out.append(await conn.recv(decode))
        except ConnectionClosed as exc:
            return out, exc


def closed_codes(exc: ConnectionClosed) -> tuple[object, ...]:
    """What a ConnectionClosed says of the closing handshake."""
    rcvd = None if exc.rcvd is None else (exc.rcvd.code, exc.rcvd.reason)
    sent = None if exc.sent is None else (exc.sent.code, exc.sent.reason)
    return type(exc), rcvd, sent, exc.rcvd_then_sent, type(exc.__cause__)
