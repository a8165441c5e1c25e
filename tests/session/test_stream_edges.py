"""Edges of the event stream's lifetime (issue 10): a cancelled ``aclose`` and a reader busy
in a REST call while frames pile up."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator

import pytest
from session_support import start

from webchat_async._events import Event, MessageReceived, StreamDisconnected, UnknownEvent
from webchat_async.simulator import Simulator
from webchat_async.stream import EventStream

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def _switching_protocols(reader: asyncio.StreamReader) -> bytes:
    """Read a client's opening handshake; the 101 response that accepts it."""
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID.encode()).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


class _Deaf:
    """A websocket server on 127.0.0.1 that completes the opening handshake by hand and then
    reads bytes without ever answering (no close frame back): a peer that never finishes
    the closing handshake. ``got_data`` is set when the first frame arrives, ``eof`` when
    the client's side of the TCP connection is gone."""

    def __init__(self) -> None:
        self.got_data = asyncio.Event()
        self.eof = asyncio.Event()
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await _switching_protocols(reader))
        await writer.drain()
        try:
            while await reader.read(4096):
                self.got_data.set()
        except ConnectionError:
            pass
        self.eof.set()
        writer.close()


@pytest.fixture
async def deaf() -> AsyncIterator[_Deaf]:
    peer = _Deaf()
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        await server.wait_closed()


async def test_aclose_cancelled_in_the_closing_handshake_still_releases_the_socket(
    deaf: _Deaf,
) -> None:
    # A close_timeout far longer than the test: only the cancellation ends the handshake.
    stream = EventStream(
        f"ws://127.0.0.1:{deaf.port}/stream", proxy=None, ping_interval=60, close_timeout=60
    )
    await stream.connect()
    closing = asyncio.create_task(stream.aclose())
    # The close frame reached the peer: aclose now waits for an answer that never comes.
    await asyncio.wait_for(deaf.got_data.wait(), 5)
    assert not closing.done()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    # The transport is released anyway: the server sees the connection end.
    await asyncio.wait_for(deaf.eof.wait(), 2)
    # And a second aclose neither hangs nor fails.
    await asyncio.wait_for(stream.aclose(), 1)


async def test_reader_busy_in_a_member_lookup_is_not_dropped_by_keepalive() -> None:
    ping_interval = 0.2
    lookup = 6 * ping_interval
    burst = 40  # far past the websocket library's frame queue (16): its reading stops
    async with Simulator(port=0, routing_delay=0.3) as sim:
        async with start(sim, ping_interval=ping_interval, dead_peer_timeout=0.5) as session:
            cid = session.conversation_id
            # Every REST call from now on is slow, the agent's member lookup included.
            sim.faults.delay(lookup)
            await sim.wait_routed(cid)
            # The reader is (or is about to be) held in the lookup; the frames pile up.
            for i in range(burst):
                await sim.agent_say(cid, f"m{i}")
            events: list[Event] = []

            async def until(body: str) -> None:
                async for event in session.events():
                    events.append(event)
                    if isinstance(event, MessageReceived) and event.message.body == body:
                        return

            await asyncio.wait_for(until(f"m{burst - 1}"), 5)
            # A socket dropped while its frames waited unread only shows once they are read:
            # one more message, after the burst, is read from the same socket.
            sim.faults.clear()
            await sim.agent_say(cid, "after")
            await asyncio.wait_for(until("after"), 5)
    assert [e for e in events if isinstance(e, StreamDisconnected)] == []
    assert sim.state.conversations[cid].attachments == 1
    bodies = [e.message.body for e in events if isinstance(e, MessageReceived)]
    assert [b for b in bodies if b is not None and b.startswith(("m", "after"))] == [
        *(f"m{i}" for i in range(burst)),
        "after",
    ]


def _server_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked server frame with FIN set (payloads under 126 bytes)."""
    return bytes([0x80 | opcode, len(payload)]) + payload


async def test_frames_in_the_handshake_write_with_bad_utf8_and_a_ping() -> None:
    # The 101, a text frame that is not UTF-8, a ping and a message arrive in one write:
    # the stream's own frame split takes the data frames, websockets the ping.
    body = b'{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}'
    pong = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            await _switching_protocols(reader)
            + _server_frame(1, b'{"a": "\xff\xfe"}')
            + _server_frame(9, b"are you there")
            + _server_frame(1, body)
            + _server_frame(1, b'{"no": "topic"}')
        )
        header = await reader.readexactly(6)  # the client's pong: masked, short
        data = await reader.readexactly(header[1] & 0x7F)
        mask = header[2:6]
        pong.set_result((header[0], bytes(b ^ mask[i % 4] for i, b in enumerate(data))))
        await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stream = EventStream(f"ws://127.0.0.1:{port}/stream", proxy=None, ping_interval=60)
    try:
        await stream.connect()
        first = await asyncio.wait_for(stream.receive(), 5)
        assert isinstance(first, UnknownEvent) and first.reason == "not UTF-8"
        assert first.raw == '{"a": "\ufffd\ufffd"}'
        # The heartbeat is consumed by the stream; the next frame comes after it.
        second = await asyncio.wait_for(stream.receive(), 5)
        assert isinstance(second, UnknownEvent) and second.reason == "no topicName"
        assert await asyncio.wait_for(pong, 5) == (0x8A, b"are you there")
    finally:
        await stream.aclose()
        server.close()
        await server.wait_closed()
