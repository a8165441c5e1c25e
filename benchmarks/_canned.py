"""A minimal canned HTTP/1.1 server: ``python -m benchmarks._canned``.

Every request, whatever its method and path, is answered ``200`` with the same
``WebChatMessage`` body, on a kept-alive connection. It parses no more than it must (the
end of the head and ``Content-Length``), so that a load benchmark measures the client:
one process of this serves several times what any client here can send.

Prints one JSON line (``{"baseUrl": ..., "pid": ...}``) and serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from ._harness import raise_open_files_limit

__all__ = ["BODY", "main"]

#: The canned answer: a message as the service returns it for a send.
BODY = json.dumps(
    {
        "id": "7a6e1c1e-7d0c-4e7f-9b3a-2f4f3b8e9c01",
        "name": "message",
        "conversation": {
            "id": "c1d2e3f4-0000-4000-8000-000000000001",
            "selfUri": "/api/v2/webchat/guest/conversations/c1d2e3f4-0000-4000-8000-000000000001",
        },
        "sender": {"id": "a0b1c2d3-0000-4000-8000-000000000002"},
        "body": "Is anybody there?",
        "bodyType": "standard",
        "timestamp": "2026-11-30T12:00:00.123Z",
        "selfUri": "/api/v2/webchat/guest/conversations/c1d2e3f4/messages/7a6e1c1e",
    },
    separators=(",", ":"),
).encode()

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class _Canned(asyncio.Protocol):
    __slots__ = ("buffer", "transport")

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        answers = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end == -1:
                break
            head = buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at != -1:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop != -1 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                break
            buffer = buffer[total:]
            answers += 1
        self.buffer = buffer
        if answers and self.transport is not None:
            self.transport.write(_RESPONSE * answers)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Canned, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"baseUrl": f"http://127.0.0.1:{port}", "pid": os.getpid()}))
    sys.stdout.write("\n")
    sys.stdout.flush()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # end of stdin: the parent is done (or gone)
    server.close()


def main() -> None:
    """Serve until stdin closes."""
    raise_open_files_limit()
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
