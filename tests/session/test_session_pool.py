"""Sessions started without ``api=`` share their event loop's connection pool (issue 24).

Each used to own an HTTP client, a connection pool and an idle keep-alive connection for
the few REST calls it makes after attaching: ~28 KiB of RSS an idle session
(benchmarks/session_memory.py). Now the sessions of one loop and one ``base_url`` lease
one pool, which the last of them closes. A counting TCP forwarder in front of the
simulator tells the HTTP connections from the websockets by their first request line.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator

import pytest
from session_support import start, until_settled

from webchat_async.models import CreateWebChatMessageRequest
from webchat_async.session import GuestSession
from webchat_async.simulator import Simulator

pytestmark = pytest.mark.filterwarnings("error::ResourceWarning")


class _Forwarder:
    """127.0.0.1 on a free port, forwarding to the simulator; counts connections."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.http = 0  # connections whose first request is not the websocket's
        self.open = 0
        self._closed = asyncio.Event()  # set while no connection is open
        self._server: asyncio.Server | None = None
        self.base_url = ""

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self._closed.clear()
        try:
            first = await reader.read(65536)
            if not first.startswith(b"GET /chat/"):
                self.http += 1
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._port)
            up_writer.write(first)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.open -= 1
            if self.open == 0:
                self._closed.set()
            writer.close()

    async def all_closed(self) -> None:
        """Until no connection is open."""
        await self._closed.wait()

    async def __aenter__(self) -> _Forwarder:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def forwarder(simulator: Simulator) -> AsyncIterator[_Forwarder]:
    port = int(simulator.base_url.rsplit(":", 1)[1])
    async with _Forwarder(port) as fwd:
        yield fwd


async def _settled(simulator: Simulator, base_url: str) -> GuestSession:
    session = await start(simulator, base_url=base_url)
    await until_settled(session)
    return session


async def test_sessions_without_api_share_one_pool_on_a_loop(
    simulator: Simulator, forwarder: _Forwarder
) -> None:
    sessions = [await _settled(simulator, forwarder.base_url) for _ in range(6)]
    try:
        # Each owned a pool: 6 sessions, at least 6 HTTP connections (each its create
        # call's keep-alive). Shared, the later sessions reuse the idle ones.
        assert forwarder.http < len(sessions), forwarder.http
        for session in sessions:
            await session.send_message("hello")
    finally:
        for session in sessions:
            await session.aclose()


async def test_closing_one_session_leaves_the_others_pool_open(
    simulator: Simulator, forwarder: _Forwarder
) -> None:
    first = await _settled(simulator, forwarder.base_url)
    second = await _settled(simulator, forwarder.base_url)
    async with second:
        await first.aclose()
        await first.aclose()  # idempotent: the lease is returned once
        assert first.api.is_closed
        assert not second.api.is_closed
        await second.send_message("still here")
        third = await _settled(simulator, forwarder.base_url)
        await third.aclose()
        await second.send_message("and here")


async def test_the_last_session_closes_the_pool(
    simulator: Simulator, forwarder: _Forwarder
) -> None:
    sessions = [await _settled(simulator, forwarder.base_url) for _ in range(3)]
    for session in sessions:
        await session.aclose()
    # Every connection the sessions opened is closed (the pool's keep-alive ones too).
    await asyncio.wait_for(forwarder.all_closed(), 10)
    gc.collect()  # an unclosed aiohttp session would warn (an error here) when collected
    # A new session after the pool closed gets a new one.
    async with await _settled(simulator, forwarder.base_url) as again:
        await again.send_message("a new pool")


async def test_a_session_on_another_loop_has_its_own_pool(simulator: Simulator) -> None:
    here = await _settled(simulator, simulator.base_url)

    def elsewhere() -> None:
        async def run() -> None:
            # The simulator serves on the test's loop, which goes on running meanwhile.
            with warnings.catch_warnings():
                warnings.simplefilter("error", ResourceWarning)
                async with await start(simulator) as there:
                    await there.api.post_webchat_guest_conversation_member_messages(
                        there.conversation_id,
                        there.member_id,
                        CreateWebChatMessageRequest(body="from another loop"),
                    )

        asyncio.run(run())

    async with here:
        await asyncio.to_thread(elsewhere)
        await here.send_message("this loop's pool still works")
