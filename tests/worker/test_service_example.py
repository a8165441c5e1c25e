"""examples/service_sse.py under uvicorn against the simulator (issue 27): 50 chats, two SSE
streams on one chat, a restart (SIGTERM, a new process) in the middle, nothing lost and
nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from redis_support import RedisUnavailable

from webchat_async.simulator import Simulator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHATS = 50
MESSAGES = 5
BEFORE_RESTART = 2
TIMEOUT = 60.0

# Runs the example on 127.0.0.1, port 0, and prints the port uvicorn got. uvicorn's own
# signal handling: SIGTERM is a graceful shutdown (the app's lifespan saves the chats).
LAUNCH = f"""
import sys
sys.path.insert(0, {str(EXAMPLES)!r})
import uvicorn
import service_sse

class Server(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets)
        print(self.servers[0].sockets[0].getsockname()[1], flush=True)

Server(uvicorn.Config(service_sse.app, host="127.0.0.1", port=0, log_level="warning",
                      timeout_graceful_shutdown=1, lifespan="on")).run()
"""


class App:
    """One run of the example in its own process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = ""

    async def started(self) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), TIMEOUT)
        assert line.strip().isdigit(), f"the example did not start: {line!r}"
        self.url = f"http://127.0.0.1:{line.strip()}"
        return self.url

    async def stop(self) -> bool:
        """SIGTERM, then whether it stopped as uvicorn does after a graceful shutdown (it
        re-raises the signal it caught: -15)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(asyncio.to_thread(self.process.wait), TIMEOUT)
        self.kill()
        return code in (0, -signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class Stream:
    """A browser's EventSource: reads SSE, reconnects with Last-Event-ID to wherever the
    app is now, until it has seen ``last``."""

    def __init__(self, cid: str, last: str) -> None:
        self.cid, self.last = cid, last
        self.messages: list[tuple[str, str | None]] = []  # (message id, text)
        self.attached = asyncio.Event()
        self.connections = 0

    async def run(self, where: asyncio.Queue[str]) -> None:
        url = await where.get()
        async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as http:
            while True:
                headers = {"Last-Event-ID": self.messages[-1][0]} if self.messages else {}
                try:
                    async with http.stream(
                        "GET", f"{url}/chats/{self.cid}/events", headers=headers
                    ) as answer:
                        assert answer.status_code == 200
                        self.connections += 1
                        if await self._read(answer):
                            return
                except (httpx.TransportError, httpx.RemoteProtocolError):
                    pass
                self.attached.clear()
                url = await where.get()  # the app restarted: the new address

    async def _read(self, answer: httpx.Response) -> bool:
        event_id = None
        async for line in answer.aiter_lines():
            if line == ": live":
                self.attached.set()
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if data["type"] == "MessageReceived":
                    assert event_id == data["messageId"]
                    self.messages.append((data["messageId"], data["text"]))
                    if data["text"] == self.last:
                        return True
                event_id = None
        return False


@contextlib.asynccontextmanager
async def redis_prefix(url: str, prefix: str) -> AsyncIterator[None]:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        yield
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_fifty_chats_two_streams_and_a_restart_lose_nothing(
    simulator: Simulator, redis_url: str, key_prefix: str
) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        WEBCHAT_BASE_URL=simulator.base_url,
        WEBCHAT_ORGANIZATION_ID=simulator.organization_id,
        WEBCHAT_DEPLOYMENT_ID=simulator.deployment_id,
        WEBCHAT_REDIS_URL=redis_url,
        WEBCHAT_SERVICE_PREFIX=key_prefix,
        NO_PROXY="*",
    )
    first = App(env)
    second: App | None = None
    try:
        async with (
            redis_prefix(redis_url, key_prefix),
            httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as http,
        ):
            url = await first.started()
            answers = await asyncio.gather(
                *(http.post(f"{url}/chats", json={"name": f"guest {i}"}) for i in range(CHATS))
            )
            assert [a.status_code for a in answers] == [201] * CHATS
            cids = [a.json()["conversationId"] for a in answers]
            await asyncio.gather(*(simulator.wait_routed(cid, TIMEOUT) for cid in cids))

            watched = cids[0]
            last = f"You said: {watched} {MESSAGES}"
            streams = [Stream(watched, last), Stream(watched, last)]
            queues: list[asyncio.Queue[str]] = [asyncio.Queue() for _ in streams]
            readers = [asyncio.create_task(s.run(q)) for s, q in zip(streams, queues, strict=True)]
            for queue in queues:
                queue.put_nowait(url)
            await asyncio.wait_for(asyncio.gather(*(s.attached.wait() for s in streams)), 30)

            async def send(base: str, numbers: range) -> None:
                async def one_chat(cid: str) -> None:
                    for n in numbers:
                        sent = await http.post(
                            f"{base}/chats/{cid}/messages", json={"text": f"{cid} {n}"}
                        )
                        assert sent.status_code == 201, sent.text

                await asyncio.gather(*(one_chat(cid) for cid in cids))

            await send(url, range(1, BEFORE_RESTART + 1))

            # The restart: SIGTERM saves every chat to Redis; the agent talks meanwhile.
            assert await first.stop()
            for cid in cids:
                assert not simulator.state.conversations[cid].ended
                await simulator.wait_sockets(cid, 0, TIMEOUT)
            await simulator.agent_say(watched, "said while the service was down")
            second = App(env)
            url = await second.started()
            for queue in queues:
                queue.put_nowait(url)
            await send(url, range(BEFORE_RESTART + 1, MESSAGES + 1))
            await asyncio.wait_for(asyncio.gather(*readers), TIMEOUT)

            # Every chat resumed once (one socket), none ended, every message stored once.
            assert len(simulator.state.conversations) == CHATS
            for cid in cids:
                conversation = simulator.state.conversations[cid]
                assert not conversation.ended
                assert conversation.socket_count == 1
                bodies = [m.body for m in conversation.messages]
                for n in range(1, MESSAGES + 1):
                    assert bodies.count(f"{cid} {n}") == 1
            # Both streams saw every message of the watched chat from when they attached,
            # in order, each once, across the restart.
            stored = [(m.id, m.body) for m in simulator.state.conversations[watched].messages]
            for stream in streams:
                ids = [i for i, _ in stream.messages]
                assert len(ids) == len(set(ids)), "a message came twice"
                start = [i for i, _ in stored].index(ids[0])
                assert ids == [i for i, _ in stored[start : start + len(ids)]]
                texts = [t for _, t in stream.messages]
                assert "said while the service was down" in texts
                assert all(f"You said: {watched} {n}" in texts for n in range(1, MESSAGES + 1))
                assert stream.connections == 2
            assert await second.stop()
    except RedisUnavailable as exc:  # pragma: no cover - the fixture decides first
        pytest.skip(str(exc))
    finally:
        first.kill()
        if second is not None:
            second.kill()
