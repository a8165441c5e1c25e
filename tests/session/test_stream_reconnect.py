"""EventStream against a tiny websockets server of the test's own, on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from webchat_async import Backoff, Retry
from webchat_async._events import (
    MessageReceived,
    StreamDisconnected,
    StreamReconnected,
    UnknownEvent,
)
from webchat_async.errors import (
    AuthenticationError,
    PermissionDeniedError,
    SessionClosedError,
    StreamError,
)
from webchat_async.stream import PING_FRAME, EventStream

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzdCJ9.c2VjcmV0LXNpZ25hdHVyZQ"
HEARTBEAT = json.dumps(
    {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}
)
PONG = json.dumps({"topicName": "channel.metadata", "eventBody": {"message": "pong"}})


def message_frame(i: int) -> str:
    return json.dumps(
        {
            "topicName": "v2.conversations.chats.c1.messages",
            "version": "2",
            "eventBody": {
                "id": f"m{i}",
                "conversation": {"id": "c1"},
                "sender": {"id": "a"},
                "body": str(i),
            },
            "metadata": {"CorrelationId": "x", "type": "message"},
        }
    )


class StubServer:
    """Hands every accepted connection to the test, which scripts it; refuses handshakes
    with the statuses queued in ``refuse``."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[ServerConnection] = asyncio.Queue()
        self.refuse: list[int] = []
        self.handshakes = 0
        self.paths: list[str] = []
        self.server: Server | None = None

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        self.paths.append(request.path)
        if self.refuse:
            return connection.respond(self.refuse.pop(0), "refused\n")
        return None

    async def handler(self, connection: ServerConnection) -> None:
        await self.connections.put(connection)
        await connection.wait_closed()

    @property
    def uri(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/chat/jwt/{JWT}"

    async def next_connection(self) -> ServerConnection:
        return await asyncio.wait_for(self.connections.get(), 5)


@pytest.fixture
async def server() -> AsyncIterator[StubServer]:
    stub = StubServer()
    async with serve(stub.handler, "127.0.0.1", 0, process_request=stub.process_request) as srv:
        stub.server = srv
        yield stub


class FakeTime:
    """A clock that only moves when the stream sleeps between attempts."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_stream(uri: str, **kwargs: Any) -> EventStream:
    kwargs.setdefault("backoff", Backoff.none())
    kwargs.setdefault("proxy", None)
    return EventStream(uri, **kwargs)


async def test_frames_are_decoded_and_keepalive_frames_skipped(server: StubServer) -> None:
    stream = make_stream(server.uri)
    assert await stream.connect() == 1
    conn = await server.next_connection()
    assert server.paths == [f"/chat/jwt/{JWT}"]  # the URI exactly as given
    for text in (HEARTBEAT, PONG, message_frame(1), "garbage", message_frame(2)):
        await conn.send(text)
    first = await stream.receive()
    assert isinstance(first, MessageReceived) and first.message.id == "m1"
    assert isinstance(await stream.receive(), UnknownEvent)
    second = await stream.receive()
    assert isinstance(second, MessageReceived) and second.message.id == "m2"
    await stream.aclose()
    with pytest.raises(SessionClosedError):
        await stream.receive()
    assert JWT not in repr(stream)


async def test_silence_sends_a_ping_and_a_pong_keeps_the_socket(server: StubServer) -> None:
    stream = make_stream(server.uri, ping_interval=0.02, dead_peer_timeout=5.0)
    await stream.connect()
    conn = await server.next_connection()

    async def answer_ping_then_send() -> None:
        assert await conn.recv() == PING_FRAME
        await conn.send(PONG)
        await conn.send(message_frame(7))

    answering = asyncio.create_task(answer_ping_then_send())
    event = await asyncio.wait_for(stream.receive(), 5)
    await answering
    assert isinstance(event, MessageReceived) and event.message.id == "m7"
    assert stream.connections == 1
    await stream.aclose()


async def test_dead_peer_is_detected_and_the_stream_reattaches(server: StubServer) -> None:
    stream = make_stream(server.uri, ping_interval=0.02, dead_peer_timeout=0.05)
    await stream.connect()
    first = await server.next_connection()
    # The server reads the ping but never answers, nor sends anything.
    dropped = await asyncio.wait_for(stream.receive(), 5)
    assert dropped == StreamDisconnected("dead peer")
    assert not stream.connected
    reconnected = await stream.receive()
    assert isinstance(reconnected, StreamReconnected) and reconnected.attempts == 1
    second = await server.next_connection()
    assert second is not first
    await second.send(message_frame(3))
    event = await stream.receive()
    assert isinstance(event, MessageReceived)
    await stream.aclose()


async def test_abnormal_close_reconnects(server: StubServer) -> None:
    stream = make_stream(server.uri)
    await stream.connect()
    conn = await server.next_connection()
    conn.transport.abort()
    event = await asyncio.wait_for(stream.receive(), 5)
    assert isinstance(event, StreamDisconnected) and event.code is None
    assert isinstance(await stream.receive(), StreamReconnected)
    await server.next_connection()
    assert stream.connections == 2
    await stream.aclose()


@pytest.mark.parametrize("code", [1000, 1001, 1011])
async def test_any_close_while_reading_reconnects(server: StubServer, code: int) -> None:
    stream = make_stream(server.uri)
    await stream.connect()
    conn = await server.next_connection()
    await conn.close(code)
    event = await asyncio.wait_for(stream.receive(), 5)
    assert isinstance(event, StreamDisconnected) and event.code == code
    assert event.reason == ("closed" if code == 1000 else "abnormal close")
    assert isinstance(await stream.receive(), StreamReconnected)
    await stream.aclose()


async def test_socket_closing_notice_reconnects(server: StubServer) -> None:
    stream = make_stream(server.uri)
    await stream.connect()
    conn = await server.next_connection()
    await conn.send(json.dumps({"topicName": "v2.system.socket_closing", "eventBody": {}}))
    assert await stream.receive() == StreamDisconnected("socket closing")
    assert isinstance(await stream.receive(), StreamReconnected)
    await server.next_connection()
    await stream.aclose()


async def test_oversize_frame_drops_the_socket_and_reconnects(server: StubServer) -> None:
    stream = make_stream(server.uri)
    await stream.connect()
    conn = await server.next_connection()
    await conn.send("x" * (1024 * 1024 + 1))
    event = await asyncio.wait_for(stream.receive(), 5)
    assert isinstance(event, StreamDisconnected)
    assert isinstance(await stream.receive(), StreamReconnected)
    await stream.aclose()


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthenticationError), (403, PermissionDeniedError)]
)
async def test_auth_refusal_is_final(
    server: StubServer, status: int, error: type[Exception]
) -> None:
    server.refuse = [status, status, status]
    stream = make_stream(server.uri)
    with pytest.raises(error) as info:
        await stream.connect()
    assert server.handshakes == 1
    assert JWT not in str(info.value) and "/jwt/" not in str(info.value)
    await stream.aclose()


async def test_auth_refusal_on_reconnect_is_final(server: StubServer) -> None:
    stream = make_stream(server.uri)
    await stream.connect()
    conn = await server.next_connection()
    server.refuse = [401]
    conn.transport.abort()
    assert isinstance(await stream.receive(), StreamDisconnected)
    with pytest.raises(AuthenticationError):
        await stream.receive()
    assert server.handshakes == 2
    await stream.aclose()


async def test_server_errors_are_retried_with_backoff(server: StubServer) -> None:
    server.refuse = [503, 429, 502]
    time = FakeTime()
    stream = make_stream(
        server.uri,
        backoff=Backoff(initial=1.0, maximum=3.0, jitter=0.0),
        clock=time.clock,
        sleep=time.sleep,
    )
    assert await stream.connect() == 4
    assert time.sleeps == [1.0, 2.0, 3.0]
    assert server.handshakes == 4
    await stream.aclose()


async def test_other_client_errors_are_final(server: StubServer) -> None:
    server.refuse = [404]
    stream = make_stream(server.uri)
    with pytest.raises(StreamError):
        await stream.connect()
    assert server.handshakes == 1


async def test_gives_up_after_the_reconnect_window(server: StubServer) -> None:
    server.refuse = [503] * 100
    time = FakeTime()
    stream = make_stream(
        server.uri,
        backoff=Backoff(initial=10.0, maximum=40.0, jitter=0.0),
        max_reconnect_window=120.0,
        clock=time.clock,
        sleep=time.sleep,
    )
    with pytest.raises(StreamError) as info:
        await stream.connect()
    # 0 + 10 + 20 + 40 + 40 = 110 s of waiting; one more 40 s wait would pass 120 s.
    assert time.sleeps == [10.0, 20.0, 40.0, 40.0]
    assert server.handshakes == 5
    assert JWT not in str(info.value)


async def test_refused_network_is_retried_then_gives_up() -> None:
    time = FakeTime()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stream = make_stream(
        f"ws://127.0.0.1:{port}/chat/jwt/{JWT}",
        backoff=Backoff(initial=50.0, maximum=50.0, jitter=0.0),
        clock=time.clock,
        sleep=time.sleep,
    )
    with pytest.raises(StreamError) as info:
        await stream.connect()
    assert time.sleeps == [50.0, 50.0]
    assert JWT not in str(info.value)


async def test_websocket_debug_logs_never_show_the_jwt(
    server: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        stream = make_stream(server.uri)
        await stream.connect()
        await server.next_connection()
        await stream.aclose()
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("webchat_async")]
    assert "> GET /chat/jwt/*** HTTP/1.1" in ours
    assert not [line for line in ours if JWT in line]


def test_backoff_schedule() -> None:
    # delay(n) is the wait before retry n; the first attempt (n = 0) never waits.
    backoff = Backoff(initial=0.5, maximum=4.0, factor=2.0, jitter=0.5, random=lambda: 0.0)
    assert [backoff.delay(n) for n in range(0, 7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    low = Backoff(initial=0.5, maximum=4.0, jitter=0.5, random=lambda: 1.0)
    assert low.delay(4) == 2.0
    assert all(Backoff.none().delay(n) == 0.0 for n in range(1, 10))


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": -1.0}, {"maximum": float("inf")}, {"factor": 0.5}, {"jitter": 2.0}],
)
def test_backoff_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Backoff"):
        Backoff(**kwargs)


def test_retry_is_the_one_backoff_type_with_the_same_first_attempt_rule() -> None:
    retry = Retry(backoff_factor=0.5, backoff_max=4.0, jitter=0.0)
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.0)
    assert isinstance(retry, Backoff)
    assert [retry.delay(n) for n in range(5)] == [backoff.delay(n) for n in range(5)]


def test_uri_must_be_a_websocket_uri() -> None:
    with pytest.raises(ValueError):
        EventStream(f"https://example.com/chat/jwt/{JWT}")
