"""A websocket server that writes message frames back to back: ``python -m
benchmarks._ws_burst COUNT``.

On each connection it writes ``COUNT`` pre-encoded ``message`` frames in one go (the
frames are built once, at start, as raw bytes: the server does no per-frame work), then
waits for the client to close. Prints one JSON line (``{"uri": ...}``) and serves until
stdin closes. Not paced by anything: the client reads as fast as it can.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import uuid

__all__ = ["frame_texts", "main"]

CONVERSATION = "c1d2e3f4-0000-4000-8000-000000000001"


def frame_texts(count: int) -> list[str]:
    """``count`` message events as the service sends them, ids and timestamps distinct."""
    texts = []
    for i in range(count):
        event = {
            "topicName": f"v2.conversations.chats.{CONVERSATION}.messages",
            "version": "2",
            "eventBody": {
                "id": str(uuid.UUID(int=i + 1)),
                "conversation": {"id": CONVERSATION},
                "sender": {"id": "a0b1c2d3-0000-4000-8000-000000000002"},
                "body": f"Message number {i}: how can I help you today?",
                "bodyType": "standard",
                "timestamp": f"2026-11-30T12:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}."
                f"{i % 1000:03d}Z",
            },
            "metadata": {"CorrelationId": str(uuid.UUID(int=10**9 + i)), "type": "message"},
        }
        texts.append(json.dumps(event, separators=(",", ":")))
    return texts


def _encode(text: str) -> bytes:
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


async def _serve(count: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    blob = b"".join(_encode(text) for text in frame_texts(count))

    async def burst(ws: ServerConnection) -> None:
        ws.transport.write(blob)  # frames from server to client are not masked
        await ws.wait_closed()

    loop = asyncio.get_running_loop()
    async with serve(burst, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        sys.stdout.write(json.dumps({"uri": f"ws://127.0.0.1:{port}/"}) + "\n")
        sys.stdout.flush()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()


def main() -> None:
    """Serve until stdin closes."""
    asyncio.run(_serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
