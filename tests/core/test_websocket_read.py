"""The lean read path of :class:`webchat_async._websocket.Connection` is websockets'.

The model test feeds the same bytes, cut anywhere, to websockets' own
``ClientConnection`` and to ``Connection`` on fake transports, and compares everything
the application and the server see: the payloads in order, how the connection closed,
the frames the client wrote (pongs, close frames) and whether the socket was aborted.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    InvalidStatus,
)
from websockets.protocol import State
from websockets.uri import parse_uri

from tests.core.ws_support import (
    RESPONSE,
    FakeTransport,
    PlainConnection,
    client_frames,
    closed_codes,
    drain,
    frame,
    opened,
    pattern,
)
from webchat_async import _websocket
from webchat_async._websocket import Connection

SIZES = st.one_of(
    st.sampled_from([0, 1, 125, 126, 127, 400, 401, 65535, 65536, 65537]),
    st.integers(0, 300),
)
SMALL = st.binary(max_size=125)


@st.composite
def server_frames(draw: st.DrawFn) -> list[bytes]:
    """One thing a server may send, as the frames on the wire."""
    tag = draw(st.integers(0, 255))
    kind = draw(
        st.sampled_from(
            ["text"] * 6
            + ["utf-8"] * 2
            + ["ping", "pong", "close", "fragmented", "binary", "garbage"]
        )
    )
    if kind == "text":  # mostly not UTF-8: recv(decode=None) fails on those
        return [frame(0x81, pattern(draw(SIZES), tag))]
    if kind == "utf-8":
        return [frame(0x81, draw(st.text(max_size=40)).encode())]
    if kind == "binary":
        return [frame(0x82, pattern(draw(SIZES), tag))]
    if kind == "ping":
        return [frame(0x89, draw(SMALL))]
    if kind == "pong":
        return [frame(0x8A, draw(SMALL))]
    if kind == "close":
        payload = draw(
            st.one_of(
                st.builds(
                    lambda code, reason: struct.pack("!H", code) + reason,
                    st.sampled_from([1000, 1001, 1011, 4000, 999, 1005]),
                    st.sampled_from([b"", b"bye", b"\xff"]),
                ),
                st.sampled_from([b"", b"\x03"]),
            )
        )
        return [frame(0x88, payload)]
    if kind == "fragmented":
        opcode = draw(st.sampled_from([0x01, 0x02]))
        parts = draw(st.lists(st.integers(0, 200), min_size=2, max_size=4))
        out = [frame(opcode, pattern(parts[0], tag))]
        for i, size in enumerate(parts[1:], 1):
            if draw(st.booleans()):
                out.append(frame(0x89, draw(SMALL)))
            out.append(frame(0x80 if i == len(parts) - 1 else 0x00, pattern(size, tag + i)))
        return out
    # garbage: a frame websockets refuses (or a non-minimal length, which it takes)
    odd = draw(
        st.sampled_from(
            [
                frame(0xC1, b"rsv1"),
                frame(0x83, b"opcode 3"),
                frame(0x81, b"masked", masked=True),
                frame(0x09, b"ping, no FIN"),
                frame(0x89, bytes(200)),
                frame(0x80, b"continuation of nothing"),
                frame(0x81, b"long form", form="64"),
                frame(0x89, b"long ping", form="16"),
            ]
        )
    )
    return [odd]


async def run(
    cls: type[Any],
    chunks: list[bytes],
    yields: list[bool],
    max_size: int | tuple[int | None, int | None],
    close_at: int | None = None,
    decode: bool | None = False,
) -> tuple[object, ...]:
    """Feed ``chunks`` to a connection of ``cls`` while a task reads it (and, before
    chunk ``close_at``, the client starts closing); what was seen."""
    conn, transport = opened(cls, max_size=max_size)
    reader = asyncio.ensure_future(drain(conn, decode))

    async def feed() -> tuple[list[str | bytes], ConnectionClosed]:
        closing = None
        for i, (chunk, pause) in enumerate(zip(chunks, yields, strict=True)):
            if i == close_at and conn.protocol.state is State.OPEN:
                closing = asyncio.ensure_future(conn.close(4001, "client"))
                await asyncio.sleep(0)
            if transport.aborted:  # a real transport reads nothing after an abort
                break
            conn.data_received(chunk)
            if pause:
                await asyncio.sleep(0)
        if not transport.aborted:
            conn.eof_received()
        conn.connection_lost(None)
        seen = await reader
        if closing is not None:
            await closing
        return seen

    payloads, exc = await asyncio.wait_for(feed(), 10)  # (asyncio.timeout: 3.11+)
    return (
        payloads,
        closed_codes(exc),
        client_frames(transport.writes),
        transport.aborted,
        conn.protocol.state,
        conn.protocol.handshake_exc is None,
    )


def cut(blob: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(blob), *(c % (len(blob) + 1) for c in cuts)})
    return [blob[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    things=st.lists(server_frames(), max_size=10),
    cuts=st.lists(st.integers(0, 2**24), max_size=30),
    head_cut=st.one_of(st.none(), st.integers(1, len(RESPONSE))),
    bytewise=st.booleans(),
    max_size=st.sampled_from([400, 65536, 2**20]),
    close_at=st.one_of(st.none(), st.integers(0, 40)),
    decode=st.sampled_from([False, False, None]),
    data=st.data(),
)
async def test_connection_sees_and_does_what_websockets_alone_does(
    things: list[list[bytes]],
    cuts: list[int],
    head_cut: int | None,
    bytewise: bool,
    max_size: int,
    close_at: int | None,
    decode: bool | None,
    data: st.DataObject,
) -> None:
    blob = RESPONSE + b"".join(b"".join(t) for t in things)
    if bytewise and len(blob) < 4000:
        chunks = [blob[i : i + 1] for i in range(len(blob))]
    else:
        chunks = cut(blob, [*cuts, *([] if head_cut is None else [head_cut])])
    yields = data.draw(st.lists(st.booleans(), min_size=len(chunks), max_size=len(chunks)))
    plain = await run(PlainConnection, chunks, yields, max_size, close_at, decode)
    lean = await run(Connection, chunks, yields, max_size, close_at, decode)
    assert lean == plain


# -- edges ----------------------------------------------------------------------------


def text(payload: bytes) -> bytes:
    return frame(0x81, payload)


async def lean(**kwargs: Any) -> tuple[Connection, FakeTransport]:
    """A ``Connection`` with its handshake done."""
    conn, transport = opened(Connection, **kwargs)
    conn.data_received(RESPONSE)
    assert conn.protocol.state is State.OPEN
    return conn, transport


async def test_a_frame_trickled_byte_by_byte_is_split_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    real = _websocket.split_frames

    def counting(*args: Any) -> tuple[int, int, int]:
        nonlocal calls
        calls += 1
        return real(*args)

    monkeypatch.setattr(_websocket, "split_frames", counting)
    conn, _ = await lean(max_size=2**20)
    payload = pattern(2**20 - 1, 7)
    wire = text(payload) + text(b"next")
    big = len(wire) - len(text(b"next"))
    for i in range(len(wire)):
        conn.data_received(wire[i : i + 1])
        if i == big - 1:
            assert calls == 4  # at 1 byte, 2 (the 64-bit length), 10, the whole frame
    assert calls == 7  # "next": at 1 byte, 2, 6
    assert await conn.recv(decode=False) == payload
    assert await conn.recv(decode=False) == b"next"


async def test_a_burst_pauses_reading_once_and_resumes_at_a_quarter() -> None:
    conn, transport = await lean()
    conn.data_received(b"".join(text(b"%d" % i) for i in range(10_000)))
    assert (transport.pauses, transport.resumes, transport.reading) == (1, 0, False)
    for i in range(10_000):
        assert await conn.recv(decode=False) == b"%d" % i
        left = 10_000 - i - 1
        assert transport.reading is (left <= 4), left
    assert (transport.pauses, transport.resumes) == (1, 1)


@pytest.mark.parametrize("binary", [1, 20])
async def test_reading_stays_paused_while_more_than_max_queue_wait_after_a_hand_over(
    binary: int,
) -> None:
    """16 frames of the lean path, then binary frames websockets queues (and pauses
    for, past 16): the socket reads again only when both queues are short."""
    conn, transport = await lean()
    conn.data_received(
        b"".join(text(b"t%d" % i) for i in range(16))
        + b"".join(frame(0x82, b"b%d" % i) for i in range(binary))
    )
    want = [b"t%d" % i for i in range(16)] + [b"b%d" % i for i in range(binary)]
    for i, payload in enumerate(want):
        assert await conn.recv(decode=False) == payload
        left = len(want) - i - 1
        if left > 16:
            assert not transport.reading, left
    assert transport.reading  # and nothing is left paused: no deadlock
    conn.data_received(frame(0x82, b"more"))
    assert await conn.recv(decode=False) == b"more"


async def test_recv_waiting_is_woken_by_data() -> None:
    conn, _ = await lean()
    waiting = asyncio.ensure_future(conn.recv(decode=False))
    await asyncio.sleep(0)
    assert not waiting.done()
    conn.data_received(text(b"hello"))
    assert await asyncio.wait_for(waiting, 5) == b"hello"


async def test_recv_waiting_is_woken_by_a_hand_over() -> None:
    conn, _ = await lean()
    waiting = asyncio.ensure_future(conn.recv(decode=False))
    await asyncio.sleep(0)
    conn.data_received(frame(0x82, b"binary"))
    assert await asyncio.wait_for(waiting, 5) == b"binary"
    conn.data_received(text(b"websockets reads this one"))
    assert await conn.recv() == "websockets reads this one"


async def test_recv_waiting_is_woken_by_connection_lost() -> None:
    conn, _ = await lean()
    waiting = asyncio.ensure_future(conn.recv(decode=False))
    await asyncio.sleep(0)
    conn.data_received(text(b"x")[:1])  # half a header: nothing to read
    conn.connection_lost(None)
    with pytest.raises(ConnectionClosedError) as caught:
        await asyncio.wait_for(waiting, 5)
    assert caught.value.rcvd is None and caught.value.sent is None


async def test_recv_waiting_from_before_the_response_gets_the_first_frame() -> None:
    conn, _ = opened(Connection)
    waiting = asyncio.ensure_future(conn.recv(decode=False))
    await asyncio.sleep(0)
    conn.data_received(RESPONSE + text(b"first"))
    assert await asyncio.wait_for(waiting, 5) == b"first"


async def test_cancelling_a_waiting_recv_loses_nothing() -> None:
    conn, _ = await lean()
    waiting = asyncio.ensure_future(conn.recv(decode=False))
    await asyncio.sleep(0)
    waiting.cancel()
    conn.data_received(text(b"a") + text(b"b"))
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert [await conn.recv(decode=False), await conn.recv(decode=False)] == [b"a", b"b"]


async def test_a_second_concurrent_recv_raises_concurrency_error_like_websockets() -> None:
    conn, _ = await lean()
    first = asyncio.ensure_future(conn.recv(decode=False))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(conn.recv(decode=False))
    await asyncio.sleep(0)
    assert second.done() and isinstance(second.exception(), ConcurrencyError)
    conn.data_received(text(b"one"))
    assert await asyncio.wait_for(first, 5) == b"one"


@pytest.mark.parametrize("bytewise", [False, True])
async def test_the_response_in_any_chunks_with_frames_after_it(bytewise: bool) -> None:
    conn, transport = opened(Connection)
    wire = RESPONSE + text(b"a") + frame(0x89, b"p") + text(b"b")
    chunks = [wire[i : i + 1] for i in range(len(wire))] if bytewise else [wire]
    for chunk in chunks:
        conn.data_received(chunk)
    assert [await conn.recv(decode=False), await conn.recv(decode=False)] == [b"a", b"b"]
    assert client_frames(transport.writes) == [(0xA, b"p", True)]


@pytest.mark.parametrize("bytewise", [False, True])
async def test_a_refused_handshake_is_websockets_invalid_status(bytewise: bool) -> None:
    wire = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!" + text(
        b"not a frame: after a refusal websockets reads nothing"
    )
    seen = []
    for cls in (ClientConnection, Connection):
        conn, _ = opened(cls)
        for chunk in [wire[i : i + 1] for i in range(len(wire))] if bytewise else [wire]:
            conn.data_received(chunk)
        assert conn.response_rcvd.done()
        exc = conn.protocol.handshake_exc
        assert isinstance(exc, InvalidStatus)
        seen.append((exc.response.status_code, exc.response.body, conn.protocol.state))
    assert seen[0] == seen[1] == (403, b"nope!", State.CONNECTING)


async def test_a_ping_in_a_burst_gets_one_pong_and_the_order_holds() -> None:
    conn, transport = await lean()
    before = [b"a%d" % i for i in range(5)]
    after = [b"b%d" % i for i in range(5)]
    conn.data_received(
        b"".join(map(text, before)) + frame(0x89, b"ping!") + b"".join(map(text, after))
    )
    assert client_frames(transport.writes) == [(0xA, b"ping!", True)]
    assert [await conn.recv(decode=False) for _ in range(10)] == before + after


@pytest.mark.skipif(
    not hasattr(ClientProtocol(parse_uri("ws://h/")), "max_fragment_size"),
    reason="websockets before 16 has one size limit",
)
async def test_a_frame_over_the_fragment_limit_is_refused_like_websockets() -> None:
    """``max_size=(message, fragment)``: websockets refuses a frame over the smaller."""
    chunks = [RESPONSE + text(b"ok") + text(bytes(200)) + text(b"never")]
    plain = await run(PlainConnection, chunks, [True], (1000, 100))
    assert plain[0] == [b"ok"] and plain[3] is True  # refused: 1009, aborted
    assert await run(Connection, chunks, [True], (1000, 100)) == plain


async def test_recv_streaming_reads_the_queued_frames_first() -> None:
    conn, _ = await lean()
    conn.data_received(text(b"queued") + frame(0x02, b"frag") + frame(0x80, b"ment"))
    assert [f async for f in conn.recv_streaming(decode=False)] == [b"queued"]
    assert [f async for f in conn.recv_streaming(decode=False)] == [b"frag", b"ment"]


async def test_a_response_that_never_ends_is_refused_like_websockets() -> None:
    """A response head of over 64 KiB without its blank line: what arrived of it goes to
    websockets, which refuses it as it would have."""
    wire = b"HTTP/1.1 101 Switching Protocols\r\nX: " + b"a" * 70_000
    seen = []
    for cls in (ClientConnection, Connection):
        conn, _ = opened(cls)
        waiting = asyncio.ensure_future(conn.recv(decode=False))
        for i in range(0, len(wire), 1000):
            conn.data_received(wire[i : i + 1000])
        exc = conn.protocol.handshake_exc
        conn.connection_lost(None)
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(waiting, 5)
        seen.append((type(exc), str(exc), conn.protocol.state))
    assert seen[0] == seen[1]
    assert seen[0][0] is not type(None)


async def _not_utf8(cls: type[ClientConnection]) -> tuple[object, ...]:
    conn, transport = opened(cls)
    conn.data_received(RESPONSE)
    conn.data_received(text(b"ok") + text(b"\xff") + text(b"queued") + text(b"x")[:1])
    assert await conn.recv() == "ok"
    failing = asyncio.ensure_future(conn.recv())
    await asyncio.sleep(0)
    written = client_frames(transport.writes)
    conn.data_received(text(b"x")[1:] + text(b"discarded"))
    conn.connection_lost(None)
    with pytest.raises(ConnectionClosedError) as caught:
        await failing
    queued = await conn.recv()  # queued before the failure, as in websockets
    with pytest.raises(ConnectionClosedError):
        await conn.recv()
    sent = caught.value.sent
    return written, sent.code if sent else None, type(caught.value.__cause__), queued


async def test_a_text_frame_not_utf8_fails_the_connection_with_1007_like_websockets() -> None:
    seen = await _not_utf8(Connection)
    written, code, _, queued = seen
    assert written == [(0x8, struct.pack("!H", 1007) + b"invalid start byte at position 0", True)]
    assert (code, queued) == (1007, "queued")
    # The exception's cause too is websockets' own (it differs between its versions).
    assert seen == await _not_utf8(ClientConnection)
