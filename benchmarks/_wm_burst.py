"""A minimal Web Messaging server that writes agent messages back to back: ``python -m
benchmarks._wm_burst COUNT``.

On each websocket (``/v1?deploymentId=...``) it answers ``configureSession``
(``SessionResponse``), ``getJwt`` (``JwtResponse``) and ``echo``; the first ``onMessage``
with text is echoed (an ``Inbound`` ``StructuredMessage`` with the message's ``metadata``)
and then ``COUNT`` pre-encoded ``Outbound`` ``StructuredMessage`` frames are written in one
go (built once, at start, as raw bytes: the server does no per-frame work), each stamped a
millisecond after the one before. ``GET /api/v2/webmessaging/messages`` answers an empty
history page (a session reads the history once configured). Prints one JSON line
(``{"baseUrl": ..., "deploymentId": ...}``) and serves until stdin closes.

Frames follow docs/messaging-protocol.md (the shapes the simulator sends); nothing is
checked: this is a load source, not a service.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import struct
import sys
import uuid
from http import HTTPStatus
from typing import Any

__all__ = ["DEPLOYMENT", "frame_texts", "main"]

_START = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)
DEPLOYMENT = "d0e1f2a3-0000-4000-8000-0000000000aa"
_EMPTY_PAGE = json.dumps(
    {"entities": [], "pageSize": 25, "pageNumber": 1, "total": 0, "pageCount": 0}
)


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def frame_texts(count: int) -> list[str]:
    """``count`` agent messages as the service pushes them, ids and times distinct."""
    texts = []
    for i in range(count):
        message_id = str(uuid.UUID(int=i + 1))
        at = _START + datetime.timedelta(milliseconds=i)
        time = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        body = {
            "id": message_id,
            "type": "Text",
            "text": f"Message number {i}: how can I help you today?",
            "direction": "Outbound",
            "channel": {
                "time": time,
                "messageId": message_id,
                "type": "Private",
                "from": {"nickname": "Sam", "firstName": "Sam", "lastName": "", "image": ""},
            },
            "content": [],
            "events": [],
            "metadata": {},
            "originatingEntity": "Human",
        }
        texts.append(
            _dumps({"type": "message", "class": "StructuredMessage", "code": 200, "body": body})
        )
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


def _answer(request: dict[str, Any]) -> str | None:
    """The response frame to a request other than the first text ``onMessage``."""
    action = request.get("action")
    tracing = request.get("tracingId")
    if action == "configureSession":
        body: dict[str, Any] = {
            "connected": True,
            "newSession": True,
            "readOnly": False,
            "clearedExistingSession": False,
            "allowedMedia": {"inbound": {"fileTypes": [], "maxFileSizeKB": 10240}},
            "blockedExtensions": [],
            "maxCustomDataBytes": 2048,
            "durationSeconds": 86400,
            "expirationDate": 4102444800,
            "autoStarted": False,
        }
        return _dumps(_envelope("SessionResponse", body, tracing))
    if action == "getJwt":
        body = {"jwt": "bench-jwt", "exp": 4102444800}
        return _dumps(_envelope("JwtResponse", body, tracing))
    if action == "echo":
        return _dumps(_envelope("StructuredMessage", _inbound("ping", {}), tracing))
    return None


def _envelope(cls: str, body: dict[str, Any], tracing: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "response", "class": cls, "code": 200, "body": body}
    if isinstance(tracing, str):
        out["tracingId"] = tracing
    return out


def _inbound(text: str, metadata: dict[str, Any]) -> dict[str, Any]:
    message_id = str(uuid.uuid4())
    return {
        "id": message_id,
        "type": "Text",
        "text": text,
        "direction": "Inbound",
        "channel": {"time": "2026-11-30T11:59:59.000Z", "messageId": message_id},
        "content": [],
        "events": [],
        "metadata": metadata,
        "originatingEntity": "Human",
    }


async def _serve(count: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed
    from websockets.http11 import Request, Response

    blob = b"".join(_encode(text) for text in frame_texts(count))

    def http(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/api/v2/webmessaging/messages"):
            response = connection.respond(HTTPStatus.OK, _EMPTY_PAGE)
            response.headers["Content-Type"] = "application/json"
            return response
        return None  # the websocket handshake

    async def session(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):  # the SDK aborts its socket at the end
            await _converse(ws)

    async def _converse(ws: ServerConnection) -> None:
        burst_sent = False
        async for text in ws:
            request = json.loads(text)
            message = request.get("message") or {}
            if request.get("action") == "onMessage" and message.get("text") and not burst_sent:
                echo = _inbound(message["text"], message.get("metadata") or {})
                await ws.send(
                    _dumps(
                        {"type": "message", "class": "StructuredMessage", "code": 200, "body": echo}
                    )
                )
                ws.transport.write(blob)  # frames from server to client are not masked
                burst_sent = True
                continue
            answer = _answer(request)
            if answer is not None:
                await ws.send(answer)

    loop = asyncio.get_running_loop()
    async with serve(
        session, "127.0.0.1", 0, compression=None, max_size=None, process_request=http
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        line = {"baseUrl": f"http://127.0.0.1:{port}", "deploymentId": DEPLOYMENT}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()


def main() -> None:
    """Serve until stdin closes."""
    asyncio.run(_serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
