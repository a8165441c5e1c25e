"""Options are validated, liveness is judged from any traffic, redaction covers args.

Each failed on eec547b: `ping_interval=0` was a 100% CPU loop, `typing(interval=0)` sent
218 POSTs in 0.5 s, the defaults put the dead-peer deadline at exactly the ~30 s heartbeat
interval with a protocol pong not counting as traffic, and a JWT stayed in `record.args`.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from session_support import start, until_settled
from websockets.asyncio.server import ServerConnection, serve

from webchat_async import SessionOptions
from webchat_async._redact import RedactingFilter
from webchat_async.simulator import Simulator
from webchat_async.stream import EventStream

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJndWVzdCJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "field",
    ["ping_interval", "dead_peer_timeout", "open_timeout", "typing_interval"],
)
@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan")])
def test_durations_must_be_positive_and_finite(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        SessionOptions(**{field: value})


@pytest.mark.parametrize("field", ["queue_size", "dedupe_window"])
@pytest.mark.parametrize("value", [0, -3, True])
def test_counts_must_be_at_least_one(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        SessionOptions(**{field: value})


def test_the_default_dead_peer_deadline_is_above_one_and_a_half_heartbeats() -> None:
    options = SessionOptions()
    assert options.ping_interval + options.dead_peer_timeout >= 1.5 * 30


async def test_typing_refuses_a_zero_interval(simulator: Simulator) -> None:
    async with start(simulator) as session:
        await until_settled(session)
        with pytest.raises(ValueError, match="interval"):
            async with session.typing(interval=0):
                pass
        typing = f"/api/v2/webchat/guest/conversations/{session.conversation_id}/members/"
        posts = [r for r in simulator.state.requests if r.path.endswith("/typing")]
        assert not posts, typing


def test_redaction_covers_the_arguments_of_a_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %.3s", (JWT,), None)
    RedactingFilter().filter(record)
    assert record.args is None or JWT not in repr(record.args)
    assert JWT not in record.getMessage()


async def test_a_protocol_pong_is_traffic_enough_for_a_server_that_ignores_text_pings() -> None:
    # The server never sends a frame and never answers the text ping; the websocket
    # library answers protocol pings. A healthy idle socket must not be reconnected.
    text_pings = 0
    enough = asyncio.Event()
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal text_pings, connections
        connections += 1
        async for _ in ws:
            text_pings += 1
            if text_pings >= 8:
                enough.set()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        stream = EventStream(
            f"ws://127.0.0.1:{port}/chat", ping_interval=0.02, dead_peer_timeout=0.05, proxy=None
        )
        await stream.connect()
        reading = asyncio.ensure_future(stream.receive())
        try:
            await asyncio.wait_for(enough.wait(), 10)
            assert connections == 1 and not reading.done()
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await stream.aclose()
