"""The lean read path end to end: a real websockets server on 127.0.0.1 writes a blob of
hand-built frames (a ping and a fragmented message in the middle of text frames) in one
write; ``Connection`` reads every payload in order, answers the ping, and closes cleanly."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedOK
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from tests.core.ws_support import frame, pattern
from webchat_async._websocket import Connection

BEFORE = [b"", b"a", pattern(125, 1), pattern(126, 2), pattern(65536, 3)]
AFTER = [b"after %d" % i for i in range(50)]
PARTS = [b"frag", b"men", b"ted"]


def blob() -> bytes:
    return b"".join(
        [
            *(frame(0x81, p) for p in BEFORE),
            frame(0x89, b"are you there"),
            frame(0x81, b"between"),
            frame(0x01, PARTS[0]),
            frame(0x89, b"again"),
            frame(0x00, PARTS[1]),
            frame(0x80, PARTS[2]),
            *(frame(0x81, p) for p in AFTER),
        ]
    )


class PongRecorder(ServerConnection):
    """The server side, recording the pongs it receives."""

    pongs: list[bytes]

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PONG:
            self.pongs.append(bytes(event.data))
        super().process_event(event)


async def test_a_hand_built_burst_over_loopback_then_a_clean_close() -> None:
    pongs: list[bytes] = []
    PongRecorder.pongs = pongs
    closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        ws.transport.write(blob())
        try:
            async for message in ws:
                raise AssertionError(f"the client sent a message: {message!r}")
        finally:
            closed.set_result(ws.close_code)

    async with serve(
        handler, "127.0.0.1", 0, compression=None, create_connection=PongRecorder
    ) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(
            f"ws://127.0.0.1:{port}/", create_connection=Connection, compression=None
        ) as ws:
            assert isinstance(ws, Connection)
            got = [await ws.recv(decode=False) for _ in range(len(BEFORE) + 2 + len(AFTER))]
            assert got == [*BEFORE, b"between", b"".join(PARTS), *AFTER]
            # websockets answers a ping of the client's after the burst: the lean path
            # handed its pong over, and the server's pings were answered before it
            await asyncio.wait_for(await ws.ping(b"mine"), 5)
            assert pongs == [b"are you there", b"again"]
            await ws.close()
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
        assert await asyncio.wait_for(closed, 5) == 1000
        assert ws.close_code == 1000
