"""Hostile sizes: huge REST bodies, compression bombs, huge websocket frames.

Each server is real, on 127.0.0.1, and streams what it sends lazily (one reused chunk,
never the whole body in memory). The client must refuse with a typed error and stay well
under the body's size in memory: ``tracemalloc`` measures the peak of Python's
allocations (bytes objects, zlib output) during the call.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web
from chaos_support import figures
from hypothesis import given, settings
from hypothesis import strategies as st
from loopback import serving
from websockets.asyncio.client import ClientConnection

from webchat_async._events import MAX_FRAME_SIZE
from webchat_async._http import DEFAULT_MAX_RESPONSE_SIZE, HttpClient
from webchat_async._transport import BodyReader, BodyTooLarge
from webchat_async.api import WebChatApi
from webchat_async.errors import ApiConnectionError, DecodeError, NotFoundError, ResponseTooLarge
from webchat_async.stream import EventStream

MiB = 1024 * 1024
HUGE = 200 * MiB  # what the servers offer
BOMB = 300 * MiB  # what the bombs inflate to
CHUNK = bytes(MiB)
#: Well under the bodies (200 and 300 MB): the limit (16 MiB) held once, and a little.
MEMORY_BUDGET = DEFAULT_MAX_RESPONSE_SIZE + 4 * MiB


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Measures the peak of traced allocations in the block: ``[peak]`` after it."""
    result = [0]
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        yield result
        result[0] = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def gzip_bomb(size: int, wbits: int) -> bytes:
    """``size`` zero bytes compressed in 1 MiB steps (the input is never built whole)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [packer.compress(CHUNK) for _ in range(size // MiB)]
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    gzip = gzip_bomb(BOMB, 31)
    outer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return {
        "gzip": gzip,
        "deflate": gzip_bomb(BOMB, 15),
        "raw-deflate": gzip_bomb(BOMB, -15),
        "gzip, gzip": outer.compress(gzip) + outer.flush(),
    }


class Hostile:
    """The REST server: counts what it managed to send."""

    def __init__(self, bombs: dict[str, bytes]) -> None:
        self.bombs = bombs
        self.sent = 0

    async def _stream(
        self, request: web.Request, status: int = 200, declared: int | None = None
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        if declared is not None:
            response.content_length = declared
        await response.prepare(request)
        try:
            while self.sent < HUGE:
                await response.write(CHUNK)
                self.sent += len(CHUNK)
        except (ConnectionError, RuntimeError):  # the client went away
            pass
        return response

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request)

    async def declared(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, declared=HUGE)

    async def error(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, status=500)

    async def bomb(self, request: web.Request) -> web.StreamResponse:
        encoding = request.query["encoding"]
        body = self.bombs[encoding]
        header = "deflate" if encoding == "raw-deflate" else encoding
        if request.query.get("chunked"):
            response = web.StreamResponse(headers={"Content-Encoding": header})
            await response.prepare(request)
            try:
                for start in range(0, len(body), 4096):
                    await response.write(body[start : start + 4096])
            except (ConnectionError, RuntimeError):
                pass
            return response
        return web.Response(body=body, headers={"Content-Encoding": header})

    async def small(self, request: web.Request) -> web.Response:
        return web.Response(body=SMALL, content_type="application/json")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/chunked", self.chunked)
        app.router.add_get("/declared", self.declared)
        app.router.add_get("/error", self.error)
        app.router.add_get("/bomb", self.bomb)
        app.router.add_get("/small", self.small)
        return app


@asynccontextmanager
async def hostile(bombs: dict[str, bytes]) -> AsyncIterator[tuple[Hostile, str]]:
    server = Hostile(bombs)
    async with serving(server.app()) as base:
        yield server, base


@asynccontextmanager
async def client(kind: str, **kwargs: Any) -> AsyncIterator[HttpClient]:
    """The SDK's own client (aiohttp, the lean path) or an injected httpx one (httpcore)."""
    if kind == "own":
        http = HttpClient(max_retries=0, **kwargs)
        try:
            yield http
        finally:
            await http.aclose()
    else:
        async with httpx.AsyncClient() as injected:
            yield HttpClient(injected, max_retries=0, **kwargs)


async def refused(
    call: Callable[[], Awaitable[Any]], path: str, limit: int = DEFAULT_MAX_RESPONSE_SIZE
) -> tuple[ResponseTooLarge, int]:
    with peak_memory() as peak:
        with pytest.raises(ResponseTooLarge) as caught:
            await call()
    error = caught.value
    assert isinstance(error, ApiConnectionError)
    assert error.limit == limit and error.method == "GET" and error.path == path
    assert str(error).startswith(f"GET {path}: the answer from 127.0.0.1:")
    assert f"over max_response_size ({limit:,} bytes, as received or once decompressed)" in str(
        error
    )
    return error, peak[0]


CLIENTS = ["own", "injected"]


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("path", ["/chunked", "/declared", "/error"])
async def test_a_200_mb_body_is_refused_with_bounded_memory(
    bombs: dict[str, bytes], kind: str, path: str
) -> None:
    async with hostile(bombs) as (server, base), client(kind) as http:
        error, peak = await refused(lambda: http.request("GET", base + path, path=path), path)
        # The connection is not reused: the next request gets a fresh one and its answer.
        answer = await http.request("GET", base + "/small", path="/small")
        assert json.loads(answer.content)["id"] == "m-1"
    figures(
        "SECURITY big body", kind=kind, path=path, peak_mib=peak / MiB, sent_mib=server.sent / MiB
    )
    assert error.status == (500 if path == "/error" else 200)
    assert peak < MEMORY_BUDGET, peak
    assert server.sent < HUGE  # it stopped reading long before the end
    if path == "/declared":
        assert peak < 4 * MiB  # refused from the header, before a byte of the body


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "gzip, gzip"])
@pytest.mark.parametrize("chunked", [False, True])
async def test_a_compression_bomb_is_refused_with_bounded_memory(
    bombs: dict[str, bytes], kind: str, encoding: str, chunked: bool
) -> None:
    assert len(bombs[encoding]) < 2 * MiB  # small on the wire, 300 MB inflated
    url_query = f"/bomb?encoding={encoding}" + ("&chunked=1" if chunked else "")
    async with hostile(bombs) as (_, base), client(kind) as http:
        _, peak = await refused(
            lambda: http.request("GET", base + url_query, path="/bomb"), "/bomb"
        )
    figures(
        "SECURITY bomb",
        kind=kind,
        encoding=encoding.replace(" ", ""),
        wire_kib=len(bombs[encoding]) // 1024,
        peak_mib=peak / MiB,
    )
    assert peak < MEMORY_BUDGET, peak


SMALL = json.dumps({"id": "m-1", "body": "x" * 100}).encode()


@pytest.mark.parametrize("kind", CLIENTS)
async def test_the_limit_is_configurable_and_exact(bombs: dict[str, bytes], kind: str) -> None:
    exact = len(SMALL)
    async with hostile(bombs) as (_, base), client(kind, max_response_size=exact) as http:
        answer = await http.request("GET", base + "/small", path="/small")
        assert answer.content == SMALL
    async with hostile(bombs) as (_, base), client(kind, max_response_size=exact - 1) as http:
        await refused(
            lambda: http.request("GET", base + "/small", path="/small"), "/small", exact - 1
        )
        _, peak = await refused(
            lambda: http.request("GET", base + "/bomb?encoding=gzip", path="/bomb"),
            "/bomb",
            exact - 1,
        )
    assert peak < 4 * MiB


async def test_webchat_api_takes_the_limit(bombs: dict[str, bytes]) -> None:
    async with hostile(bombs) as (_, base):
        async with WebChatApi(base_url=base, access_token="t", max_response_size=10) as api:
            with pytest.raises(ResponseTooLarge) as caught:  # its 404 page is over 10 bytes
                await api.get_webchat_deployment("d-1")
            assert (caught.value.limit, caught.value.status) == (10, 404)
            derived = api.with_options(max_response_size=1000)
            with pytest.raises(NotFoundError):  # read whole: the 404 itself
                await derived.get_webchat_deployment("d-1")
        with pytest.raises(ValueError, match="max_response_size"):
            WebChatApi(base_url=base, max_response_size=0)


async def test_a_corrupt_compressed_body_is_a_decode_error() -> None:
    async def corrupt(_: web.Request) -> web.Response:
        return web.Response(
            body=b"\x1f\x8b\x08\x00not gzip at all", headers={"Content-Encoding": "gzip"}
        )

    app = web.Application()
    app.router.add_get("/x", corrupt)
    async with serving(app) as base:
        for kind in CLIENTS:
            async with client(kind) as http:
                with pytest.raises(DecodeError, match="GET /x: the compressed body is invalid"):
                    await http.request("GET", base + "/x", path="/x")


def test_the_largest_legitimate_answer_is_far_below_the_default_limit() -> None:
    """A page of 100 messages of 4,000 characters each, every character the costliest the
    JSON encoding may make of it (an emoji escaped as two \\uXXXX: 12 bytes)."""
    import datetime

    from webchat_async import models
    from webchat_async._convert import unstructure

    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    member = models.WebChatMemberInfo(
        id="2d9a4e37-1f6b-4d0e-9d3a-7b8c9e0f1a2b",
        display_name="Samantha Agent-Longname",
        avatar_image_url="https://example.mypurecloud.com/avatars/2d9a4e37-1f6b-4d0e-9d3a.png",
        role=models.MemberRole.AGENT,
        join_date=when,
        state=models.MemberState.CONNECTED,
    )
    conversation = models.WebChatConversation(id="0c1b2a3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    message = models.WebChatMessage(
        id="9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b",
        conversation=conversation,
        sender=member,
        body="\U0001f600" * 4000,
        body_type=models.BodyType.STANDARD,
        timestamp=when,
    )
    page = models.WebChatMessageEntityList(
        entities=[message] * 100,
        page_size=100,
        next="/api/v2/webchat/guest/conversations/x/messages?after=y",
    )
    size = len(json.dumps(unstructure(page), ensure_ascii=True).encode())
    figures("SECURITY largest page", bytes=size, limit=DEFAULT_MAX_RESPONSE_SIZE)
    assert 4_800_000 < size < DEFAULT_MAX_RESPONSE_SIZE / 3


# -- the body reader alone ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000),
    encoding=st.sampled_from(
        [None, "identity", "gzip", "x-gzip", "deflate", "raw", "gzip, gzip", "br"]
    ),
    limit=st.integers(1, 4000),
    cuts=st.lists(st.integers(1, 500), max_size=8),
)
def test_the_reader_gives_the_body_or_refuses_past_the_limit(
    data: bytes, encoding: str | None, limit: int, cuts: list[int]
) -> None:
    def pack(raw: bytes, wbits: int) -> bytes:
        packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
        return packer.compress(raw) + packer.flush()

    wire = {
        "gzip": lambda: pack(data, 31),
        "x-gzip": lambda: pack(data, 31),
        "deflate": lambda: pack(data, 15),
        "raw": lambda: pack(data, -15),
        "gzip, gzip": lambda: pack(pack(data, 31), 31),
    }.get(encoding or "", lambda: data)()
    reader = BodyReader("deflate" if encoding == "raw" else encoding, limit, 200)
    chunks, rest = [], wire
    for cut in cuts:
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    try:
        for chunk in chunks:
            reader.feed(chunk)
        body = reader.finish()
    except BodyTooLarge as exc:
        assert exc.limit == limit and exc.status == 200
        assert len(data) > limit or len(wire) > limit
    else:
        assert body == data and len(data) <= limit and len(wire) <= limit


# -- websocket frames --------------------------------------------------------------------------

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FrameServer:
    """A websocket server by hand: the first socket gets ``first`` (a frame header and its
    payload streamed lazily); later sockets get one small frame and stay open."""

    def __init__(self, first: bytes, payload: int) -> None:
        self.header = first
        self.payload = payload
        self.sent = 0
        self.connections = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", head)
            assert found is not None
            accept = base64.b64encode(hashlib.sha1(found.group(1) + _GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            if self.connections == 1:
                writer.write(self.header)
                while self.sent < self.payload and not writer.transport.is_closing():
                    writer.write(CHUNK[: min(len(CHUNK), self.payload - self.sent)])
                    await writer.drain()
                    self.sent += len(CHUNK)
            else:
                text = b'{"message": "WebSocket Heartbeat"}'
                writer.write(bytes([0x81, len(text)]) + text)
                await writer.drain()
            await reader.read()  # until the client goes
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{self.port}/chat/jwt/x"
        finally:
            server.close()
            await server.wait_closed()


async def _no_sleep(_: float) -> None:
    return None


async def test_a_200_mb_frame_is_refused_unread_and_the_stream_reconnects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A text frame whose header announces 200 MiB; the payload follows as fast as read.
    server = FrameServer(bytes([0x81, 127]) + struct.pack("!Q", HUGE), HUGE)
    received = [0]
    original = ClientConnection.data_received

    def counting(self: ClientConnection, data: bytes) -> None:
        received[0] += len(data)
        original(self, data)

    monkeypatch.setattr(ClientConnection, "data_received", counting)
    async with server.running() as uri:
        stream = EventStream(uri, proxy=None, close_timeout=0.05, sleep=_no_sleep)
        try:
            await stream.connect()
            with peak_memory() as peak:
                dropped = await stream.receive()
            again = await stream.receive()
        finally:
            await stream.aclose()
    figures("SECURITY big frame", peak_mib=peak[0] / MiB, received_mib=received[0] / MiB)
    assert (dropped.reason, dropped.code) == ("frame too large", 1009)  # type: ignore[attr-defined]
    assert type(again).__name__ == "StreamReconnected" and server.connections == 2
    assert peak[0] < 4 * MiB  # not even one frame's worth (1 MiB max) held twice
    # The rest of the frame is not read: the socket is aborted on the refusal (websockets
    # alone reads and discards until the server closes; this one went on for 200 MB).
    assert received[0] < 4 * MiB


async def test_a_compressed_frame_is_never_inflated() -> None:
    # RSV1 set (permessage-deflate) though compression was not negotiated, on a deflate
    # bomb: a protocol error, a drop, and nothing inflated.
    bomb = gzip_bomb(BOMB // 10, -15)
    assert len(bomb) < MAX_FRAME_SIZE
    header = bytes([0xC1, 127]) + struct.pack("!Q", len(bomb))
    server = FrameServer(header + bomb, 0)
    async with server.running() as uri:
        stream = EventStream(uri, proxy=None, close_timeout=0.5, sleep=_no_sleep)
        try:
            await stream.connect()
            with peak_memory() as peak:
                dropped = await stream.receive()
        finally:
            await stream.aclose()
    assert type(dropped).__name__ == "StreamDisconnected"
    assert peak[0] < 4 * MiB
