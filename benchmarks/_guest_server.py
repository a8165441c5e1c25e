"""A canned guest-chat service for the session benchmarks: ``python -m
benchmarks._guest_server COUNT [PUSH]``.

Enough of the Web Chat v2 guest API for ``GuestSession.start`` (create a conversation,
page its messages: none stored, list its members, leave) and an event stream that does no
per-frame work: every frame is built once, at start, as raw websocket bytes.

* ``GET /stream/{key}``: the event stream. It writes the agent's greeting at once, then
  ``PUSH`` more message frames at once (the memory benchmark: sessions that have
  received messages), then waits.
* ``POST /burst/{key}/{kind}``: writes ``COUNT`` message frames on that stream in one go
  (``kind``: ``distinct``, each its own millisecond; ``same``, all at one timestamp, as
  the service stamps a burst). Nothing paces the client: the frames are in the socket
  before the answer.

The conversation id doubles as the stream's key, so a bare websockets client can open
``/stream/anything`` as well. Prints one JSON line (``{"baseUrl": ...}``) and serves until
stdin closes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from typing import Any

from aiohttp import web

from ._harness import raise_open_files_limit
from ._ws_burst import CONVERSATION, _encode, frame_texts

__all__ = ["JWT", "KINDS", "main"]

KINDS = ("distinct", "same")
#: A well-formed guest token (never checked here).
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"

_API = "/api/v2/webchat/guest/conversations"
_AGENT = "a0b1c2d3-0000-4000-8000-000000000002"


def _message(message_id: str, timestamp: str, body: str) -> str:
    event = {
        "topicName": f"v2.conversations.chats.{CONVERSATION}.messages",
        "version": "2",
        "eventBody": {
            "id": message_id,
            "conversation": {"id": CONVERSATION},
            "sender": {"id": _AGENT},
            "body": body,
            "bodyType": "standard",
            "timestamp": timestamp,
        },
        "metadata": {"CorrelationId": message_id, "type": "message"},
    }
    return json.dumps(event, separators=(",", ":"))


def one_timestamp_texts(count: int) -> list[str]:
    """``count`` message events with distinct ids, all stamped in one millisecond."""
    return [
        _message(f"00000000-0000-4000-9000-{i:012d}", "2026-11-30T13:00:00.000Z", f"Burst {i}")
        for i in range(count)
    ]


class _Service:
    def __init__(self, count: int, push: int) -> None:
        self.push = push
        self.bursts = {
            "distinct": b"".join(_encode(t) for t in frame_texts(count)),
            "same": b"".join(_encode(t) for t in one_timestamp_texts(count)),
        }
        # Before any burst: the greeting, then up to 100 pushed messages (distinct stamps).
        early = [_message("00000000-0000-4000-8000-00000000aaaa", "2026-11-30T11:00:00.000Z", "Hi")]
        early += [
            _message(f"00000000-0000-4000-8000-{i:012d}", f"2026-11-30T11:30:{i:02d}.000Z", "Ok")
            for i in range(1, 101)
        ]
        self.early = [_encode(t) for t in early]
        self.streams: dict[str, asyncio.Transport] = {}
        self.ids = itertools.count(1)
        self.port = 0

    async def create(self, request: web.Request) -> web.Response:
        await request.read()
        n = next(self.ids)
        key = f"c{n:08d}-0000-4000-8000-000000000000"
        body: dict[str, Any] = {
            "id": key,
            "jwt": JWT,
            "eventStreamUri": f"ws://127.0.0.1:{self.port}/stream/{key}",
            "member": {"id": f"m{n:08d}-0000-4000-8000-000000000000", "state": "CONNECTED"},
        }
        return web.json_response(body)

    async def messages(self, request: web.Request) -> web.Response:
        return web.json_response({"entities": [], "pageSize": 100})

    async def members(self, request: web.Request) -> web.Response:
        return web.json_response({"entities": [], "pageSize": 25, "pageNumber": 1})

    async def member(self, request: web.Request) -> web.Response:
        member = request.match_info["member"]
        return web.json_response({"id": member, "role": "CUSTOMER", "state": "CONNECTED"})

    async def leave(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        key = request.match_info["key"]
        push = min(self.push, len(self.early) - 1)
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        transport = request.transport
        if transport is None:
            return ws
        transport.write(b"".join(self.early[: push + 1]))  # server frames are not masked
        self.streams[key] = transport  # type: ignore[assignment]
        try:
            async for _ in ws:
                pass
        finally:
            self.streams.pop(key, None)
        return ws

    async def burst(self, request: web.Request) -> web.Response:
        key, kind = request.match_info["key"], request.match_info["kind"]
        transport = self.streams.get(key)
        if transport is None or kind not in self.bursts:
            raise web.HTTPNotFound()
        transport.write(self.bursts[kind])
        return web.Response(status=204)


async def _serve(count: int, push: int) -> None:
    service = _Service(count, push)
    app = web.Application()
    app.add_routes(
        [
            web.post(_API, service.create),
            web.get(_API + "/{cid}/messages", service.messages),
            web.get(_API + "/{cid}/members", service.members),
            web.get(_API + "/{cid}/members/{member}", service.member),
            web.delete(_API + "/{cid}/members/{member}", service.leave),
            web.get("/stream/{key}", service.stream),
            web.post("/burst/{key}/{kind}", service.burst),
        ]
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    server = site._server
    if server is None or not server.sockets:
        raise RuntimeError("the server did not start")
    service.port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"baseUrl": f"http://127.0.0.1:{service.port}"}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        await reader.read()
    finally:
        await runner.cleanup()


def main() -> None:
    """Serve until stdin closes."""
    raise_open_files_limit()
    push = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    asyncio.run(_serve(int(sys.argv[1]), push))


if __name__ == "__main__":
    main()
